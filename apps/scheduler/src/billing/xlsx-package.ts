import { XLSX_SHEET_PATH, xlsxPackageParts } from '#domain';
import { ZipWriter, type ZipEntryWriter, type ZipSink } from './zip-writer.js';

/** Sheet text handed to deflate in pieces of about this many characters. */
const SHEET_PIECE_CHARS = 64 * 1024;

/**
 * The XLSX container: the package's fixed parts (libs/domain's xlsxPackageParts), then the sheet's
 * XML as it is written, deflated into the ZIP entry XLSX_SHEET_PATH, then the central directory.
 * The sheet text goes to deflate in pieces cut by its own length, never by how the caller batched
 * it, and holds at most one piece (and deflate's window) in memory.
 */
export class XlsxPackageEncoder {
  private readonly zip: ZipWriter;
  private sheet: ZipEntryWriter | null = null;
  private pending: string[] = [];
  private pendingChars = 0;

  constructor(
    sink: ZipSink,
    private readonly sheetName: string,
  ) {
    this.zip = new ZipWriter(sink);
  }

  /** Appends sheet XML. */
  async write(text: string): Promise<void> {
    if (text === '') return;
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= SHEET_PIECE_CHARS) await this.flush();
  }

  /** Ends the sheet and the archive. */
  async end(): Promise<void> {
    await this.flush();
    const sheet = await this.openSheet();
    await sheet.end();
    await this.zip.finish();
  }

  private async flush(): Promise<void> {
    if (this.pendingChars === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    await (await this.openSheet()).write(text);
  }

  private async openSheet(): Promise<ZipEntryWriter> {
    if (this.sheet === null) {
      for (const part of xlsxPackageParts(this.sheetName)) await this.zip.addFile(part.path, part.xml);
      this.sheet = await this.zip.startFile(XLSX_SHEET_PATH);
    }
    return this.sheet;
  }
}
