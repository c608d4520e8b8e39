import { constants, crc32, createDeflateRaw, type DeflateRaw } from 'node:zlib';

/**
 * A streaming ZIP writer (APPNOTE 6.3): each entry is a local header, its deflated data as it is
 * produced, then a data descriptor (general purpose flag bit 3: CRC-32 and sizes follow the data, so
 * nothing is buffered or sought back to); at the end the central directory. Deterministic: every
 * entry carries the same DOS time (1980-01-01 00:00), no extra fields or comments, and deflate's
 * output depends only on the bytes given (never on how they were split across writes), so the same
 * entries give the same archive, byte for byte, on the same zlib.
 *
 * No ZIP64: an archive past 4 GiB − 1 bytes, an entry past that size, or more than 65,535 entries is
 * refused with ZipLimitExceeded rather than written wrong.
 */

/** Largest value a 32-bit ZIP field holds (sizes, offsets). */
export const ZIP_MAX_BYTES = 0xffff_ffff;
/** Largest entry count a 16-bit ZIP field holds. */
export const ZIP_MAX_ENTRIES = 0xffff;

/** Raised when an archive would need ZIP64, which this writer does not implement. */
export class ZipLimitExceeded extends Error {
  override readonly name = 'ZipLimitExceeded';
}

/** Where the archive's bytes go, in order; awaited, so a slow sink slows the writer (backpressure). */
export type ZipSink = (bytes: Buffer) => Promise<void>;

const LOCAL_FILE_HEADER = 0x04034b50;
const DATA_DESCRIPTOR = 0x08074b50;
const CENTRAL_DIRECTORY_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
/** 2.0: deflate and data descriptors. */
const VERSION = 20;
/** Bit 3: CRC-32 and sizes in a data descriptor after the data. Bit 11: the name is UTF-8. */
const FLAGS = 0x0008 | 0x0800;
const DEFLATE = 8;
/** MS-DOS time 00:00:00 and date 1980-01-01 (year 0 from 1980, month 1, day 1): the earliest there is. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

interface CentralEntry {
  name: Buffer;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  offset: number;
}

export interface ZipWriterOptions {
  /** zlib level, 0–9 (default 6, zlib's default). Changing it changes the bytes. */
  level?: number;
  /** Lower limits than the format's (for tests); never higher. */
  maxBytes?: number;
  maxEntries?: number;
}

export class ZipWriter {
  private readonly entries: CentralEntry[] = [];
  private offset = 0;
  private current: ZipEntryWriter | null = null;
  private finished = false;
  private readonly maxBytes: number;
  private readonly maxEntries: number;

  constructor(
    private readonly sink: ZipSink,
    private readonly options: ZipWriterOptions = {},
  ) {
    this.maxBytes = Math.min(options.maxBytes ?? ZIP_MAX_BYTES, ZIP_MAX_BYTES);
    this.maxEntries = Math.min(options.maxEntries ?? ZIP_MAX_ENTRIES, ZIP_MAX_ENTRIES);
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.offset;
  }

  /** A whole entry at once (a small part). */
  async addFile(name: string, content: string | Buffer): Promise<void> {
    const entry = await this.startFile(name);
    await entry.write(content);
    await entry.end();
  }

  /** Starts an entry written piece by piece; end it before starting the next one or finishing. */
  async startFile(name: string): Promise<ZipEntryWriter> {
    if (this.finished) throw new Error('the ZIP archive is finished');
    if (this.current !== null) throw new Error(`ZIP entry ${this.current.name} is still open`);
    if (this.entries.length >= this.maxEntries) {
      throw new ZipLimitExceeded(
        `A ZIP archive without ZIP64 holds at most ${this.maxEntries} entries; ${name} would be one more (ZIP64 is not implemented).`,
      );
    }
    const encodedName = Buffer.from(name, 'utf8');
    if (encodedName.length > 0xffff) throw new RangeError(`ZIP entry name too long: ${name.slice(0, 80)}…`);
    const offset = this.offset;
    const header = Buffer.alloc(30);
    header.writeUInt32LE(LOCAL_FILE_HEADER, 0);
    header.writeUInt16LE(VERSION, 4);
    header.writeUInt16LE(FLAGS, 6);
    header.writeUInt16LE(DEFLATE, 8);
    header.writeUInt16LE(DOS_TIME, 10);
    header.writeUInt16LE(DOS_DATE, 12);
    // CRC-32 (14), compressed (18) and uncompressed (22) sizes are zero here: the data descriptor has them.
    header.writeUInt16LE(encodedName.length, 26);
    header.writeUInt16LE(0, 28);
    await this.put(Buffer.concat([header, encodedName]));
    const entry = new ZipEntryWriter(
      name,
      this.options.level ?? constants.Z_DEFAULT_COMPRESSION,
      this.maxBytes,
      {
        put: (bytes) => this.put(bytes),
        close: async (crc, compressedSize, uncompressedSize) => {
          const descriptor = Buffer.alloc(16);
          descriptor.writeUInt32LE(DATA_DESCRIPTOR, 0);
          descriptor.writeUInt32LE(crc, 4);
          descriptor.writeUInt32LE(compressedSize, 8);
          descriptor.writeUInt32LE(uncompressedSize, 12);
          await this.put(descriptor);
          this.entries.push({ name: encodedName, crc, compressedSize, uncompressedSize, offset });
          this.current = null;
        },
      },
    );
    this.current = entry;
    return entry;
  }

  /** Writes the central directory and its end record; the archive is complete after this. */
  async finish(): Promise<void> {
    if (this.finished) return;
    if (this.current !== null) throw new Error(`ZIP entry ${this.current.name} is still open`);
    const directoryOffset = this.offset;
    for (const entry of this.entries) {
      const header = Buffer.alloc(46);
      header.writeUInt32LE(CENTRAL_DIRECTORY_HEADER, 0);
      header.writeUInt16LE(VERSION, 4); // made by: MS-DOS attributes, spec 2.0
      header.writeUInt16LE(VERSION, 6);
      header.writeUInt16LE(FLAGS, 8);
      header.writeUInt16LE(DEFLATE, 10);
      header.writeUInt16LE(DOS_TIME, 12);
      header.writeUInt16LE(DOS_DATE, 14);
      header.writeUInt32LE(entry.crc, 16);
      header.writeUInt32LE(entry.compressedSize, 20);
      header.writeUInt32LE(entry.uncompressedSize, 24);
      header.writeUInt16LE(entry.name.length, 28);
      // Extra field (30), comment (32), disk (34), internal (36) and external (38) attributes: zero.
      header.writeUInt32LE(entry.offset, 42);
      await this.put(Buffer.concat([header, entry.name]));
    }
    const directorySize = this.offset - directoryOffset;
    const end = Buffer.alloc(22);
    end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(directorySize, 12);
    end.writeUInt32LE(directoryOffset, 16);
    await this.put(end);
    this.finished = true;
  }

  /** Every byte of the archive passes here: the one place the 4 GiB limit is enforced. */
  private async put(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    if (this.offset + bytes.length > this.maxBytes) {
      throw new ZipLimitExceeded(
        `The ZIP archive would pass ${this.maxBytes.toLocaleString('en')} bytes (4 GiB − 1 is the most without ZIP64, which is not implemented). Export less at once (one agency or program), or as CSV or JSON.`,
      );
    }
    this.offset += bytes.length;
    await this.sink(bytes);
  }
}

interface EntryHost {
  put(bytes: Buffer): Promise<void>;
  close(crc: number, compressedSize: number, uncompressedSize: number): Promise<void>;
}

/**
 * One entry being written: bytes in, deflated out to the archive as zlib produces them. At most
 * what one write produces is held before it goes to the sink.
 */
export class ZipEntryWriter {
  private readonly deflate: DeflateRaw;
  private produced: Buffer[] = [];
  private failure: Error | null = null;
  private crc = 0;
  private uncompressedSize = 0;
  private compressedSize = 0;
  private ended = false;

  constructor(
    readonly name: string,
    level: number,
    private readonly maxBytes: number,
    private readonly host: EntryHost,
  ) {
    this.deflate = createDeflateRaw({ level });
    this.deflate.on('data', (chunk: Buffer) => this.produced.push(chunk));
    this.deflate.on('error', (error: Error) => {
      this.failure = error;
    });
  }

  async write(data: string | Buffer): Promise<void> {
    if (this.ended) throw new Error(`ZIP entry ${this.name} is ended`);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (bytes.length === 0) return;
    await this.released(async () => {
      if (this.uncompressedSize + bytes.length > this.maxBytes) {
        throw new ZipLimitExceeded(
          `ZIP entry ${this.name} would pass ${this.maxBytes.toLocaleString('en')} bytes uncompressed (4 GiB − 1 is the most without ZIP64, which is not implemented).`,
        );
      }
      this.crc = crc32(bytes, this.crc);
      this.uncompressedSize += bytes.length;
      await new Promise<void>((resolve, reject) => {
        this.deflate.write(bytes, (error) => (error ? reject(error) : resolve()));
      });
      await this.drain();
    });
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.released(async () => {
      await new Promise<void>((resolve, reject) => {
        this.deflate.once('end', resolve);
        this.deflate.once('error', reject);
        this.deflate.end();
      });
      await this.drain();
    });
    await this.host.close(this.crc >>> 0, this.compressedSize, this.uncompressedSize);
  }

  /** Runs a step; if it fails (a limit, zlib, or the sink, e.g. a superseded export), the entry is over and zlib's memory is freed now. */
  private async released(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.ended = true;
      this.deflate.destroy();
      throw error;
    }
  }

  /** Hands what zlib produced so far to the archive, in order. */
  private async drain(): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.produced.length > 0) {
      const chunks = this.produced;
      this.produced = [];
      for (const chunk of chunks) {
        this.compressedSize += chunk.length;
        await this.host.put(chunk);
      }
    }
  }
}
