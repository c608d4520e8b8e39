import { ruleViolated } from '../errors/domain-error.js';
import type { CsvValue } from './export-format.js';
import { neutralizeFormula } from './formula-injection.js';

/**
 * The rules of a settlement XLSX cell, whatever writes the workbook (apps/scheduler writes it with
 * exceljs): which text a cell shows, when a value is a number, and how many rows a sheet holds.
 */

/** Rows and columns a sheet may have (Excel's limits). */
export const XLSX_MAX_ROWS = 1_048_576;
export const XLSX_MAX_COLUMNS = 16_384;

/**
 * How a column's cells are written: `number` cells as numbers when the value is a canonical decimal
 * Excel holds exactly (xlsxNumber), everything else as text.
 */
export type XlsxColumnKind = 'text' | 'number';

/** Excel keeps 15 significant digits; a number with more would be shown (and saved) rounded. */
const EXCEL_SIGNIFICANT_DIGITS = 15;
/** No leading zeros, no trailing fraction zeros, no "-0": the text Excel shows is the text we wrote. */
const CANONICAL_DECIMAL = /^(?!-0$)-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?$/;

/**
 * Characters XML 1.0 cannot carry (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF; unpaired
 * surrogates): removed from cell text, since no reader could parse the sheet with them.
 */
const XML_ILLEGAL =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Excel reads `_xHHHH_` in a string as the character U+HHHH (OOXML's escape; exceljs writes text as
 * it is): an organization named "_x0041_" would show as "A". Its underscore is escaped as `_x005F_`.
 */
const OOXML_ESCAPE = /_x([0-9A-Fa-f]{4})_/g;

/**
 * The text a cell shows: the characters XML cannot carry removed, then neutralized against formula
 * injection exactly as the CSV is (neutralizeFormula), so the XLSX and the CSV reconcile cell for
 * cell. (A string cell is never evaluated, but a copy-paste or a save as CSV would be.)
 */
export function xlsxCellText(text: string): string {
  return neutralizeFormula(text.replace(XML_ILLEGAL, '')).replace(OOXML_ESCAPE, '_x005F_x$1_');
}

/**
 * The number literal of a value if Excel holds it exactly as written (a canonical decimal of at
 * most 15 significant digits); otherwise null, and the cell is written as text.
 */
export function xlsxNumber(value: CsvValue): string | null {
  if (value === null) return null;
  const text = typeof value === 'bigint' ? value.toString() : value;
  if (!CANONICAL_DECIMAL.test(text)) return null;
  const significant = text.replace(/[-.]/g, '').replace(/^0+/, '');
  return significant.length <= EXCEL_SIGNIFICANT_DIGITS ? text : null;
}

/** Refuses a row (1-based, header included) or a width no XLSX sheet holds: the row limit is a domain error. */
export function assertXlsxRow(rowNumber: number, columns: number): void {
  if (!Number.isInteger(rowNumber) || rowNumber < 1 || rowNumber > XLSX_MAX_ROWS) {
    throw ruleViolated(
      'XLSX_TOO_MANY_ROWS',
      `An XLSX sheet holds at most ${XLSX_MAX_ROWS.toLocaleString('en')} rows (header included); this export needs row ${rowNumber}. Export CSV or JSON, or one agency or program at a time.`,
      { rowNumber, maxRows: XLSX_MAX_ROWS },
    );
  }
  if (columns > XLSX_MAX_COLUMNS) {
    throw new RangeError(`An XLSX row holds at most ${XLSX_MAX_COLUMNS} cells, got ${columns}`);
  }
}
