import { Writable } from 'node:stream';
import ExcelJS from 'exceljs';
import { assertXlsxRow, xlsxCellText, xlsxNumber, type CsvValue, type XlsxColumnKind } from '#domain';

/** Where the file's bytes go, in order (awaited: backpressure). */
export type XlsxSink = (bytes: Buffer) => Promise<void>;

interface ArchiverEntryData {
  name: string;
  date?: Date | string;
}
interface Archiver {
  append(source: unknown, data: ArchiverEntryData): unknown;
}

/**
 * exceljs's streaming workbook writer with every ZIP entry dated `modified`. exceljs leaves the
 * entry date to archiver, which stamps the wall-clock time; exceljs also appends its first entries
 * (theme, package relationships) from its constructor, so the archiver is wrapped in the first of
 * those methods, before anything is appended. With the workbook's created/modified fixed too
 * (docProps/core.xml), the same cells give the same bytes whenever they are written.
 */
class DeterministicWorkbookWriter extends ExcelJS.stream.xlsx.WorkbookWriter {
  override addThemes(): Promise<void> {
    this.dateEntries();
    return super.addThemes();
  }

  override addOfficeRels(): Promise<void> {
    this.dateEntries();
    return super.addOfficeRels();
  }

  private dateEntries(): void {
    const self = this as unknown as { zip: Archiver & { datedBy?: true }; modified: Date };
    const zip = self.zip;
    if (zip.datedBy) return;
    const append = zip.append.bind(zip);
    const date = self.modified;
    zip.append = (source, data) => append(source, { ...data, date });
    zip.datedBy = true;
  }
}

interface WorkbookTimes {
  created: Date;
  modified: Date;
  creator: string;
  lastModifiedBy: string;
}

export interface XlsxSheetOptions {
  sheetName: string;
  /** The header row's cells (row 1, bold, frozen). */
  columns: readonly string[];
  /** How each column's cells are written (xlsxNumber decides whether a `number` cell is a number). */
  kinds: readonly XlsxColumnKind[];
  /** The workbook's created/modified time and every ZIP entry's date: fixed, so the bytes are too. */
  fixedTime: Date;
}

/** Excel's built-in format 1 ("0"): a whole number without scientific notation. */
const INTEGER_FORMAT = '0';

/**
 * One XLSX sheet written row by row with exceljs's streaming writer (`stream.xlsx.WorkbookWriter`):
 * each row is committed as it comes and deflated into the ZIP (archiver, ZIP64 when an archive needs
 * it) on its way to the sink; nothing holds the sheet. Cell text follows libs/domain's rules
 * (xlsxCellText, xlsxNumber, assertXlsxRow), so the sheet reads cell for cell as the CSV does.
 */
export class XlsxSheetFile {
  private readonly workbook: DeterministicWorkbookWriter;
  private readonly sheet: ExcelJS.Worksheet;
  private readonly output: Writable;
  private failure: Error | null = null;
  private rowNumber = 1;

  constructor(
    sink: XlsxSink,
    private readonly options: XlsxSheetOptions,
  ) {
    assertXlsxRow(1, options.columns.length);
    this.output = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        sink(chunk).then(
          () => done(),
          (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
        );
      },
    });
    this.output.on('error', (error) => {
      this.failure ??= error;
    });
    // exceljs reads created/modified/creator from these options; its typings omit them.
    const workbookOptions: Partial<ExcelJS.stream.xlsx.WorkbookStreamWriterOptions> & WorkbookTimes = {
      stream: this.output,
      useStyles: true,
      useSharedStrings: false,
      created: options.fixedTime,
      modified: options.fixedTime,
      creator: 'gpupool',
      lastModifiedBy: 'gpupool',
    };
    this.workbook = new DeterministicWorkbookWriter(workbookOptions);
    this.sheet = this.workbook.addWorksheet(options.sheetName, {
      views: [{ state: 'frozen', ySplit: 1, topLeftCell: 'A2', activeCell: 'A2' }],
    });
    const header = this.sheet.addRow(options.columns.map((name) => xlsxCellText(name)));
    header.font = { bold: true };
    header.commit();
  }

  /** Appends a data row; waits while the sink is behind. */
  async row(cells: readonly CsvValue[]): Promise<void> {
    this.check();
    this.rowNumber += 1;
    assertXlsxRow(this.rowNumber, cells.length);
    const values: (string | number | null)[] = [];
    const integerColumns: number[] = [];
    cells.forEach((value, index) => {
      if (value === null) {
        values.push(null);
        return;
      }
      const number = this.options.kinds[index] === 'number' ? xlsxNumber(value) : null;
      if (number !== null) {
        values.push(Number(number));
        if (/^-?\d+$/.test(number)) integerColumns.push(index);
      } else {
        // An integer (bigint) is ours and, as in the CSV, written as is: its digits, never prefixed.
        values.push(typeof value === 'bigint' ? value.toString() : xlsxCellText(value));
      }
    });
    const row = this.sheet.addRow(values);
    for (const index of integerColumns) row.getCell(index + 1).numFmt = INTEGER_FORMAT;
    row.commit();
    if (this.output.writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const settle = (): void => {
          this.output.off('drain', settle);
          this.output.off('error', settle);
          resolve();
        };
        this.output.on('drain', settle);
        this.output.on('error', settle);
      });
    }
    this.check();
  }

  /** Ends the sheet and the workbook: the archive is complete when this resolves. */
  async end(): Promise<void> {
    this.check();
    this.sheet.commit();
    await this.workbook.commit();
    this.check();
  }

  private check(): void {
    if (this.failure !== null) throw this.failure;
  }
}
