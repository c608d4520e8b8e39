import fc from 'fast-check';
import { csvCell } from './export-format.js';
import { assertXlsxRow, XLSX_MAX_COLUMNS, XLSX_MAX_ROWS, xlsxCellText, xlsxNumber } from './xlsx.js';

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

  it('escapes text Excel would read as its _xHHHH_ character escape, so it shows as written', () => {
    expect(xlsxCellText('_x0041_ Lab')).toBe('_x005F_x0041_ Lab');
    expect(xlsxCellText('a_x00e9_b_x12_')).toBe('a_x005F_x00e9_b_x12_');
    expect(xlsxCellText('_x005F_')).toBe('_x005F_x005F_');
  });

  it('never leaves a character XML cannot carry, nor a formula trigger first', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const shown = xlsxCellText(text);
        // eslint-disable-next-line no-control-regex
        expect(shown).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/);
        expect(shown).not.toMatch(/^[=+\-@\t\r]/);
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

describe('sheet size', () => {
  it('refuses a row past the sheet limit with a code', () => {
    expect(() => assertXlsxRow(XLSX_MAX_ROWS, 1)).not.toThrow();
    expect(() => assertXlsxRow(XLSX_MAX_ROWS + 1, 1)).toThrow(
      expect.objectContaining({ code: 'XLSX_TOO_MANY_ROWS' }),
    );
    expect(() => assertXlsxRow(0, 1)).toThrow(expect.objectContaining({ code: 'XLSX_TOO_MANY_ROWS' }));
  });

  it('refuses a row wider than a sheet', () => {
    expect(() => assertXlsxRow(1, XLSX_MAX_COLUMNS)).not.toThrow();
    expect(() => assertXlsxRow(1, XLSX_MAX_COLUMNS + 1)).toThrow(RangeError);
  });
});
