import fc from 'fast-check';
import { csvCell } from './export-format.js';
import {
  columnLetters,
  XLSX_MAX_ROWS,
  XLSX_SHEET_PATH,
  XLSX_WORKSHEET_END,
  XLSX_WORKSHEET_START,
  xlsxCell,
  xlsxCellText,
  xlsxHeaderRow,
  xlsxNumber,
  xlsxPackageParts,
  xlsxRow,
  xmlText,
} from './xlsx.js';

describe('columnLetters', () => {
  it.each([
    [0, 'A'],
    [25, 'Z'],
    [26, 'AA'],
    [27, 'AB'],
    [51, 'AZ'],
    [52, 'BA'],
    [701, 'ZZ'],
    [702, 'AAA'],
    [16_383, 'XFD'],
  ])('%p → %p', (index, letters) => {
    expect(columnLetters(index)).toBe(letters);
  });

  it('refuses what no sheet has', () => {
    for (const index of [-1, 1.5, 16_384]) expect(() => columnLetters(index)).toThrow(RangeError);
  });
});

describe('cell text', () => {
  it('is the CSV cell text: formulas neutralized the same way, Korean kept', () => {
    for (const text of [
      '=SUM(A1)',
      '+82-2',
      '-1',
      '@cmd',
      '\t=1',
      '\r=1',
      '서울대학교',
      '(주)중소기업',
      '',
    ]) {
      expect(xlsxCellText(text)).toBe(csvCell(text).replace(/^"|"$/g, '').replaceAll('""', '"'));
    }
    expect(xlsxCellText('=HYPERLINK("http://evil","x")')).toBe(`'=HYPERLINK("http://evil","x")`);
  });

  it('drops the characters XML cannot carry, and neutralizes what that uncovers', () => {
    expect(xlsxCellText('a\u0000b\u0007c\u001Fd\uFFFEe')).toBe('abcde');
    expect(xlsxCellText('tab\tLF\nCR\r')).toBe('tab\tLF\nCR\r');
    expect(xlsxCellText('\uD800alone')).toBe('alone');
    expect(xlsxCellText('😀 pair')).toBe('😀 pair');
    expect(xlsxCellText('\u0001=cmd')).toBe("'=cmd");
  });

  it('escapes markup, keeps CR, and escapes _xHHHH_ look-alikes as Excel does', () => {
    expect(xmlText('a<b>&c "d" \'e\'')).toBe('a&lt;b&gt;&amp;c "d" \'e\'');
    expect(xmlText(']]>')).toBe(']]&gt;');
    expect(xmlText('one\r\ntwo')).toBe('one&#13;\ntwo');
    expect(xmlText('_x0041_ and _x00e9_ but not _x41_')).toBe(
      '_x005F_x0041_ and _x005F_x00e9_ but not _x41_',
    );
    expect(xmlText('한국과학기술원')).toBe('한국과학기술원');
  });

  it('never leaves markup or an unescaped ampersand in any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const xml = xmlText(xlsxCellText(text));
        expect(xml).not.toMatch(/[<>]/);
        expect(xml).not.toMatch(/&(?!amp;|lt;|gt;|#13;)/);
        // eslint-disable-next-line no-control-regex
        expect(xml).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/);
        expect(xlsxCellText(text)).not.toMatch(/^[=+\-@\t\r]/);
      }),
    );
  });
});

describe('numbers', () => {
  it.each([
    [1_800_000n, '1800000'],
    [-540_000n, '-540000'],
    [0n, '0'],
    ['1.5', '1.5'],
    ['0.000278', '0.000278'],
    ['-2.25', '-2.25'],
    [999_999_999_999_999n, '999999999999999'],
  ])('writes %p as the number %p', (value, text) => {
    expect(xlsxNumber(value)).toBe(text);
  });

  it.each<[string | bigint | null, string]>([
    [1_000_000_000_000_000n, '16 digits: Excel would round it'],
    ['1.50', 'a trailing zero Excel would drop'],
    ['007', 'leading zeros'],
    ['-0', 'negative zero'],
    ['1e3', 'an exponent'],
    ['', 'nothing'],
    ['H100', 'text'],
    [null, 'an empty cell'],
  ])('keeps %p as text (%s)', (value) => {
    expect(xlsxNumber(value)).toBeNull();
  });
});

describe('cells and rows', () => {
  it('writes numbers as numbers only in number columns; whole numbers without scientific notation', () => {
    expect(xlsxCell('B2', 1_800_000n, 'number')).toBe('<c r="B2" s="1"><v>1800000</v></c>');
    expect(xlsxCell('B2', '1.5', 'number')).toBe('<c r="B2"><v>1.5</v></c>');
    expect(xlsxCell('B2', '1.5', 'text')).toBe(
      '<c r="B2" t="inlineStr"><is><t xml:space="preserve">1.5</t></is></c>',
    );
    expect(xlsxCell('C3', null, 'number')).toBe('');
  });

  it('writes an integer that a number cannot hold, or one in a text column, as its digits: never prefixed', () => {
    expect(xlsxCell('A1', -540_000n, 'text')).toBe(
      '<c r="A1" t="inlineStr"><is><t xml:space="preserve">-540000</t></is></c>',
    );
    expect(xlsxCell('A1', 12_345_678_901_234_567n, 'number')).toContain('>12345678901234567</t>');
  });

  it('writes text cells neutralized and escaped', () => {
    expect(xlsxCell('D9', '=cmd|" /C calc"!A0 & <b>', 'text')).toBe(
      `<c r="D9" t="inlineStr"><is><t xml:space="preserve">'=cmd|" /C calc"!A0 &amp; &lt;b&gt;</t></is></c>`,
    );
  });

  it('numbers rows and cells, leaving empty cells out', () => {
    expect(xlsxRow(2, ['주식회사 청년AI', null, 5040n], ['text', 'text', 'number'])).toBe(
      '<row r="2"><c r="A2" t="inlineStr"><is><t xml:space="preserve">주식회사 청년AI</t></is></c>' +
        '<c r="C2" s="1"><v>5040</v></c></row>',
    );
    expect(xlsxHeaderRow(['BillingAccountName', 'VAT'])).toBe(
      '<row r="1"><c r="A1" s="2" t="inlineStr"><is><t xml:space="preserve">BillingAccountName</t></is></c>' +
        '<c r="B1" s="2" t="inlineStr"><is><t xml:space="preserve">VAT</t></is></c></row>',
    );
  });

  it('refuses a row past the sheet limit with a code', () => {
    expect(xlsxRow(XLSX_MAX_ROWS, ['x'], ['text'])).toContain(`r="A${XLSX_MAX_ROWS}"`);
    expect(() => xlsxRow(XLSX_MAX_ROWS + 1, ['x'], ['text'])).toThrow(
      expect.objectContaining({ code: 'XLSX_TOO_MANY_ROWS' }),
    );
  });
});

describe('package parts', () => {
  it('are the fixed parts of a one-sheet workbook, in order, naming the sheet part', () => {
    const parts = xlsxPackageParts('Settlement');
    expect(parts.map((part) => part.path)).toEqual([
      '[Content_Types].xml',
      '_rels/.rels',
      'xl/workbook.xml',
      'xl/_rels/workbook.xml.rels',
      'xl/styles.xml',
    ]);
    expect(parts[0]?.xml).toContain(`PartName="/${XLSX_SHEET_PATH}"`);
    expect(parts[2]?.xml).toContain('<sheet name="Settlement" sheetId="1" r:id="rId1"/>');
    expect(parts[3]?.xml).toContain('Target="worksheets/sheet1.xml"');
    for (const part of parts) expect(part.xml.startsWith('<?xml version="1.0" encoding="UTF-8"')).toBe(true);
    expect(xlsxPackageParts('Settlement')).toEqual(parts);
  });

  it('make any name a sheet name Excel accepts', () => {
    expect(xlsxPackageParts('a/b:c*d?[e]\\f')[2]?.xml).toContain('name="a b c d  e  f"');
    expect(xlsxPackageParts('정산 "2026-04" & more than thirty-one characters')[2]?.xml).toContain(
      'name="정산 &quot;2026-04&quot; &amp; more than thirty"',
    );
    expect(xlsxPackageParts('')[2]?.xml).toContain('name="Sheet1"');
  });

  it('open the sheet with a frozen header and close it', () => {
    expect(XLSX_WORKSHEET_START).toContain(
      '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>',
    );
    expect(XLSX_WORKSHEET_START.endsWith('<sheetData>')).toBe(true);
    expect(XLSX_WORKSHEET_END).toBe('</sheetData></worksheet>');
  });
});
