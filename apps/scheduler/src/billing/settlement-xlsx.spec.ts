import ExcelJS from 'exceljs';
import { XlsxSheetFile, type XlsxSheetOptions } from './settlement-xlsx.js';

const OPTIONS: XlsxSheetOptions = {
  sheetName: '정산',
  columns: ['기관', 'CoPay', 'Quantity', 'Note'],
  kinds: ['text', 'number', 'number', 'text'],
  fixedTime: new Date('2026-05-31T15:00:00Z'),
};

async function write(
  rows: (string | bigint | null)[][],
  options: XlsxSheetOptions = OPTIONS,
): Promise<Buffer> {
  const bytes: Buffer[] = [];
  const file = new XlsxSheetFile((piece) => {
    bytes.push(piece);
    return new Promise((resolve) => setImmediate(resolve));
  }, options);
  for (const row of rows) await file.row(row);
  await file.end();
  return Buffer.concat(bytes);
}

/** exceljs's typings name their own Buffer type; a Node Buffer is what it reads. */
async function load(workbook: ExcelJS.Workbook, bytes: Buffer): Promise<void> {
  await workbook.xlsx.load(bytes as unknown as ExcelJS.Buffer);
}

/** Every entry's DOS date and time from the central directory (the end record is the last 22 bytes). */
function entryDates(archive: Buffer): { name: string; time: number; date: number }[] {
  const end = archive.length - 22;
  expect(archive.readUInt32LE(end)).toBe(0x06054b50);
  const count = archive.readUInt16LE(end + 10);
  let at = archive.readUInt32LE(end + 16);
  const entries: { name: string; time: number; date: number }[] = [];
  for (let index = 0; index < count; index += 1) {
    expect(archive.readUInt32LE(at)).toBe(0x02014b50);
    const nameLength = archive.readUInt16LE(at + 28);
    const extra = archive.readUInt16LE(at + 30);
    const comment = archive.readUInt16LE(at + 32);
    entries.push({
      name: archive.toString('utf8', at + 46, at + 46 + nameLength),
      time: archive.readUInt16LE(at + 12),
      date: archive.readUInt16LE(at + 14),
    });
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

const ROWS: (string | bigint | null)[][] = [
  ['서울대학교', 1_800_000n, '1.5', 'plain'],
  ['=HYPERLINK("http://x","y")', -540_000n, '-0.000278', '+82 연구, "따옴표"'],
  ['@청년\u0007AI <b>&', 12_345_678_901_234_567n, null, '-2 lines\nsecond'],
];

describe('XlsxSheetFile (exceljs streaming writer)', () => {
  it('writes a workbook exceljs reads back: header, text neutralized, won amounts as whole numbers', async () => {
    const workbook = new ExcelJS.Workbook();
    await load(workbook, await write(ROWS));
    const sheet = workbook.getWorksheet('정산')!;
    expect(sheet.rowCount).toBe(4);
    expect(sheet.getRow(1).values).toEqual([undefined, '기관', 'CoPay', 'Quantity', 'Note']);
    expect(sheet.getRow(1).getCell(1).font?.bold).toBe(true);
    expect(sheet.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });

    const cell = (row: number, column: number) => sheet.getRow(row).getCell(column);
    expect(cell(2, 1).value).toBe('서울대학교');
    expect(cell(2, 2).value).toBe(1_800_000);
    expect(cell(2, 2).numFmt).toBe('0');
    expect(cell(2, 3).value).toBe(1.5);
    expect(cell(3, 1).value).toBe(`'=HYPERLINK("http://x","y")`);
    expect(cell(3, 2).value).toBe(-540_000);
    expect(cell(3, 3).value).toBe(-0.000278);
    expect(cell(3, 4).value).toBe(`'+82 연구, "따옴표"`);
    // XML cannot carry U+0007: left out, then the text neutralized as the CSV neutralizes it.
    expect(cell(4, 1).value).toBe(`'@청년AI <b>&`);
    // An integer a double cannot hold stays its digits, as text; an empty cell stays empty.
    expect(cell(4, 2).value).toBe('12345678901234567');
    expect(cell(4, 3).value).toBeNull();
    expect(cell(4, 4).value).toBe(`'-2 lines\nsecond`);
  });

  it('gives the same bytes whenever it is written: workbook times and ZIP entry dates are the fixed time', async () => {
    const first = await write(ROWS);
    // A DOS time has a 2-second resolution: wait past it so a wall-clock date would differ.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const second = await write(ROWS);
    expect(second.equals(first)).toBe(true);

    // 2026-05-31 15:00:00 UTC as MS-DOS date and time.
    const dosDate = ((2026 - 1980) << 9) | (5 << 5) | 31;
    const dosTime = 15 << 11;
    const entries = entryDates(first);
    expect(entries.map((entry) => entry.name)).toContain('xl/worksheets/sheet1.xml');
    for (const entry of entries) expect(entry).toMatchObject({ date: dosDate, time: dosTime });

    const workbook = new ExcelJS.Workbook();
    await load(workbook, first);
    expect(workbook.created).toEqual(OPTIONS.fixedTime);
    expect(workbook.modified).toEqual(OPTIONS.fixedTime);

    const later = await write(ROWS, { ...OPTIONS, fixedTime: new Date('2026-06-30T15:00:00Z') });
    expect(later.equals(first)).toBe(false);
  });

  it('writes an empty sheet as the header row alone', async () => {
    const workbook = new ExcelJS.Workbook();
    await load(workbook, await write([]));
    expect(workbook.getWorksheet('정산')!.rowCount).toBe(1);
  });

  it('passes a sink failure on', async () => {
    const file = new XlsxSheetFile(() => Promise.reject(new Error('superseded')), OPTIONS);
    const attempt = async () => {
      for (let row = 0; row < 5000; row += 1)
        await file.row([`기관 ${row}`, BigInt(row), '1', 'x'.repeat(200)]);
      await file.end();
    };
    await expect(attempt()).rejects.toThrow('superseded');
  });
});
