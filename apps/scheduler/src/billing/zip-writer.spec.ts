import { randomBytes } from 'node:crypto';
import { crc32, inflateRawSync } from 'node:zlib';
import { readSheet } from 'read-excel-file/node';
import {
  XLSX_SHEET_PATH,
  XLSX_WORKSHEET_END,
  XLSX_WORKSHEET_START,
  xlsxHeaderRow,
  xlsxPackageParts,
  xlsxRow,
} from '#domain';
import { ZipLimitExceeded, ZipWriter } from './zip-writer.js';

interface ReadEntry {
  name: string;
  flags: number;
  method: number;
  time: number;
  date: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  content: Buffer;
}

/**
 * Reads an archive back the strict way, from its central directory: every local header, data
 * descriptor and central record must agree, and every entry's CRC-32 must be its content's.
 */
function readZip(archive: Buffer): ReadEntry[] {
  const endAt = archive.length - 22;
  expect(archive.readUInt32LE(endAt)).toBe(0x06054b50);
  const count = archive.readUInt16LE(endAt + 10);
  expect(archive.readUInt16LE(endAt + 8)).toBe(count);
  const directorySize = archive.readUInt32LE(endAt + 12);
  const directoryOffset = archive.readUInt32LE(endAt + 16);
  expect(directoryOffset + directorySize).toBe(endAt);
  const entries: ReadEntry[] = [];
  let at = directoryOffset;
  let expectedLocal = 0;
  for (let index = 0; index < count; index += 1) {
    expect(archive.readUInt32LE(at)).toBe(0x02014b50);
    const nameLength = archive.readUInt16LE(at + 28);
    const extraLength = archive.readUInt16LE(at + 30);
    const commentLength = archive.readUInt16LE(at + 32);
    const entry = {
      flags: archive.readUInt16LE(at + 8),
      method: archive.readUInt16LE(at + 10),
      time: archive.readUInt16LE(at + 12),
      date: archive.readUInt16LE(at + 14),
      crc: archive.readUInt32LE(at + 16),
      compressedSize: archive.readUInt32LE(at + 20),
      uncompressedSize: archive.readUInt32LE(at + 24),
      name: archive.toString('utf8', at + 46, at + 46 + nameLength),
    };
    const local = archive.readUInt32LE(at + 42);
    // Entries are stored back to back, in directory order.
    expect(local).toBe(expectedLocal);
    expect(archive.readUInt32LE(local)).toBe(0x04034b50);
    expect(archive.readUInt16LE(local + 6)).toBe(entry.flags);
    expect(archive.readUInt16LE(local + 8)).toBe(entry.method);
    expect(archive.readUInt32LE(local + 14)).toBe(0);
    const localName = archive.readUInt16LE(local + 26);
    const localExtra = archive.readUInt16LE(local + 28);
    expect(archive.toString('utf8', local + 30, local + 30 + localName)).toBe(entry.name);
    const dataAt = local + 30 + localName + localExtra;
    const data = archive.subarray(dataAt, dataAt + entry.compressedSize);
    const descriptorAt = dataAt + entry.compressedSize;
    expect(archive.readUInt32LE(descriptorAt)).toBe(0x08074b50);
    expect(archive.readUInt32LE(descriptorAt + 4)).toBe(entry.crc);
    expect(archive.readUInt32LE(descriptorAt + 8)).toBe(entry.compressedSize);
    expect(archive.readUInt32LE(descriptorAt + 12)).toBe(entry.uncompressedSize);
    const content = inflateRawSync(data);
    expect(content.length).toBe(entry.uncompressedSize);
    expect(crc32(content)).toBe(entry.crc);
    entries.push({ ...entry, content });
    expectedLocal = descriptorAt + 16;
    at += 46 + nameLength + extraLength + commentLength;
  }
  expect(expectedLocal).toBe(directoryOffset);
  return entries;
}

/** Writes entries, each split into pieces by `split`, and returns the archive and the sink's calls. */
async function archiveOf(
  entries: { name: string; content: Buffer }[],
  split: (content: Buffer) => Buffer[] = (content) => [content],
): Promise<Buffer> {
  const written: Buffer[] = [];
  const zip = new ZipWriter((bytes) => {
    written.push(Buffer.from(bytes));
    return Promise.resolve();
  });
  for (const { name, content } of entries) {
    const entry = await zip.startFile(name);
    for (const piece of split(content)) await entry.write(piece);
    await entry.end();
  }
  await zip.finish();
  const archive = Buffer.concat(written);
  expect(zip.bytesWritten).toBe(archive.length);
  return archive;
}

/** A deterministic pseudo-random split (xorshift), pieces of 1 to `max` bytes. */
function splitter(seed: number, max: number): (content: Buffer) => Buffer[] {
  return (content) => {
    let state = seed;
    const pieces: Buffer[] = [];
    for (let at = 0; at < content.length;) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const size = 1 + ((state >>> 0) % max);
      pieces.push(content.subarray(at, at + size));
      at += size;
    }
    return pieces;
  };
}

const KOREAN = Buffer.from('기관명,공급가액,부가세\r\n서울대학교,1800000,180000\r\n'.repeat(2000), 'utf8');
const INCOMPRESSIBLE = randomBytes(300_000);
const ENTRIES = [
  { name: 'empty.txt', content: Buffer.alloc(0) },
  { name: 'korean.csv', content: KOREAN },
  { name: 'dir/random.bin', content: INCOMPRESSIBLE },
  { name: 'small.xml', content: Buffer.from('<a/>') },
];

describe('ZipWriter', () => {
  it('writes deflated entries with data descriptors that read back with matching CRC-32s and sizes', async () => {
    const entries = readZip(await archiveOf(ENTRIES));
    expect(entries.map((entry) => entry.name)).toEqual(ENTRIES.map((entry) => entry.name));
    entries.forEach((entry, index) => {
      expect(entry.content.equals(ENTRIES[index].content)).toBe(true);
      expect(entry.method).toBe(8);
      expect(entry.flags & 0x0008).toBe(0x0008);
      // 1980-01-01 00:00: the same in every archive.
      expect([entry.time, entry.date]).toEqual([0, 0x0021]);
    });
    expect(entries[1].compressedSize).toBeLessThan(KOREAN.length / 10);
  });

  it('gives the same bytes for the same entries however their content is split across writes', async () => {
    const whole = await archiveOf(ENTRIES);
    expect((await archiveOf(ENTRIES, splitter(7, 5000))).equals(whole)).toBe(true);
    expect((await archiveOf(ENTRIES, splitter(11, 97))).equals(whole)).toBe(true);
    expect((await archiveOf(ENTRIES)).equals(whole)).toBe(true);
  });

  it('refuses what would need ZIP64 (too many entries, too many bytes) with ZipLimitExceeded', async () => {
    const sink = () => Promise.resolve();
    const few = new ZipWriter(sink, { maxEntries: 2 });
    await few.addFile('a', 'a');
    await few.addFile('b', 'b');
    await expect(few.startFile('c')).rejects.toThrow(ZipLimitExceeded);

    const small = new ZipWriter(sink, { maxBytes: 100_000 });
    const entry = await small.startFile('big.bin');
    await expect(entry.write(INCOMPRESSIBLE)).rejects.toThrow(/ZIP64/);
    await expect(entry.write('more')).rejects.toThrow(/ended/);

    // The format's own limits cannot be raised.
    const capped = new ZipWriter(sink, { maxEntries: 1_000_000 });
    expect(capped).toBeInstanceOf(ZipWriter);
  });

  it('refuses entries out of order', async () => {
    const zip = new ZipWriter(() => Promise.resolve());
    const open = await zip.startFile('a');
    await expect(zip.startFile('b')).rejects.toThrow(/still open/);
    await expect(zip.finish()).rejects.toThrow(/still open/);
    await open.end();
    await zip.finish();
    await expect(zip.startFile('c')).rejects.toThrow(/finished/);
  });

  it('passes a sink failure on, and stops', async () => {
    let calls = 0;
    const zip = new ZipWriter(() => {
      calls += 1;
      return calls > 2 ? Promise.reject(new Error('superseded')) : Promise.resolve();
    });
    const entry = await zip.startFile('a.bin');
    await expect(
      (async () => {
        for (let i = 0; i < 10; i += 1) await entry.write(randomBytes(100_000));
      })(),
    ).rejects.toThrow('superseded');
    await expect(entry.write('more')).rejects.toThrow(/ended/);
  });

  it('makes an XLSX package that a spreadsheet reader opens', async () => {
    const written: Buffer[] = [];
    const zip = new ZipWriter((bytes) => {
      written.push(bytes);
      return Promise.resolve();
    });
    for (const part of xlsxPackageParts('정산')) await zip.addFile(part.path, part.xml);
    const sheet = await zip.startFile(XLSX_SHEET_PATH);
    await sheet.write(XLSX_WORKSHEET_START + xlsxHeaderRow(['기관', 'CoPay', 'Note']));
    for (let row = 2; row <= 1001; row += 1) {
      await sheet.write(
        xlsxRow(row, [`기관 ${row}`, BigInt(row) * 1000n, '=1+1'], ['text', 'number', 'text']),
      );
    }
    await sheet.write(XLSX_WORKSHEET_END);
    await sheet.end();
    await zip.finish();
    const archive = Buffer.concat(written);
    expect(readZip(archive).map((entry) => entry.name)).toContain(XLSX_SHEET_PATH);

    const rows = await readSheet(archive, { trim: false, parseNumber: (text: string) => text });
    expect(rows).toHaveLength(1001);
    expect(rows[0]).toEqual(['기관', 'CoPay', 'Note']);
    expect(rows[1]).toEqual(['기관 2', '2000', "'=1+1"]);
    expect(rows[1000]).toEqual(['기관 1001', '1001000', "'=1+1"]);
  });
});
