import { ruleViolated } from '../errors/domain-error.js';
import type { CsvValue } from './export-format.js';
import { neutralizeFormula } from './formula-injection.js';

/**
 * The text of an XLSX workbook (Office Open XML, ECMA-376) with one sheet, written row by row:
 * package parts that never change, the sheet's opening, one `<row>` per record, the sheet's end.
 * Pure strings; the ZIP around them is the caller's. Same cells, same text: no timestamps, no
 * shared-string table (every text cell is an inline string, so rows can be written as they come).
 */

/** Rows and columns a sheet may have (Excel's limits). */
export const XLSX_MAX_ROWS = 1_048_576;
export const XLSX_MAX_COLUMNS = 16_384;

/**
 * How a column's cells are written: `number` cells as numbers (`<v>`) when the value is a canonical
 * decimal Excel holds exactly, everything else as an inline string.
 */
export type XlsxColumnKind = 'text' | 'number';

/** Style indexes of XLSX_STYLES' cellXfs. */
const STYLE_INTEGER = 1;
const STYLE_HEADER = 2;

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
/** ECMA-376 writes a character XML cannot hold as _xHHHH_, so literal text of that shape needs its "_" escaped. */
const ESCAPE_LOOKALIKE = /_(x[0-9A-Fa-f]{4}_)/g;

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const SPREADSHEET_NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const RELATIONSHIPS_NS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PACKAGE_RELATIONSHIPS_NS = 'http://schemas.openxmlformats.org/package/2006/relationships';

/** The sheet's path inside the package. */
export const XLSX_SHEET_PATH = 'xl/worksheets/sheet1.xml';

/** 0 → "A", 25 → "Z", 26 → "AA", 16383 → "XFD". */
export function columnLetters(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= XLSX_MAX_COLUMNS) {
    throw new RangeError(`XLSX column index must be 0–${XLSX_MAX_COLUMNS - 1}, got ${index}`);
  }
  let letters = '';
  for (let rest = index + 1; rest > 0; rest = Math.floor((rest - 1) / 26)) {
    letters = String.fromCharCode(65 + ((rest - 1) % 26)) + letters;
  }
  return letters;
}

/**
 * The text a cell shows: the characters XML cannot carry removed, then neutralized against formula
 * injection exactly as the CSV is (neutralizeFormula), so the XLSX and the CSV reconcile cell for
 * cell. (An inline string is never evaluated, but a copy-paste or a save as CSV would be.)
 */
export function xlsxCellText(text: string): string {
  return neutralizeFormula(text.replace(XML_ILLEGAL, ''));
}

/** XML character data for `<t>`: & < > escaped, CR kept (as &#13;, parsers turn a raw CR into LF), _xHHHH_ look-alikes escaped. */
export function xmlText(text: string): string {
  return text
    .replace(XML_ILLEGAL, '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('\r', '&#13;')
    .replace(ESCAPE_LOOKALIKE, '_x005F_$1');
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

function inlineString(ref: string, shownText: string, style: string): string {
  return `<c r="${ref}"${style} t="inlineStr"><is><t xml:space="preserve">${xmlText(shownText)}</t></is></c>`;
}

/**
 * One cell; '' for an empty one (absent cells are empty). Text goes through xlsxCellText; an
 * integer (bigint) is ours and, as in the CSV, written as is: a number in a `number` column, else
 * its digits as text (a credit stays -540000, never '-540000).
 */
export function xlsxCell(ref: string, value: CsvValue, kind: XlsxColumnKind): string {
  if (value === null) return '';
  if (kind === 'number') {
    const number = xlsxNumber(value);
    if (number !== null) {
      const style = /^-?\d+$/.test(number) ? ` s="${STYLE_INTEGER}"` : '';
      return `<c r="${ref}"${style}><v>${number}</v></c>`;
    }
  }
  return inlineString(ref, typeof value === 'bigint' ? value.toString() : xlsxCellText(value), '');
}

function assertRow(rowNumber: number, columns: number): void {
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

/** Column letters, computed once per column. */
const letterCache: string[] = [];
function letters(index: number): string {
  return (letterCache[index] ??= columnLetters(index));
}

/** A data row (1-based `rowNumber`): each cell written by its column's kind. */
export function xlsxRow(
  rowNumber: number,
  cells: readonly CsvValue[],
  kinds: readonly XlsxColumnKind[],
): string {
  assertRow(rowNumber, cells.length);
  let xml = `<row r="${rowNumber}">`;
  for (let index = 0; index < cells.length; index += 1) {
    xml += xlsxCell(`${letters(index)}${rowNumber}`, cells[index] ?? null, kinds[index] ?? 'text');
  }
  return `${xml}</row>`;
}

/** The header row (row 1): the column names, bold. */
export function xlsxHeaderRow(names: readonly string[]): string {
  assertRow(1, names.length);
  const cells = names.map((name, index) =>
    inlineString(`${letters(index)}1`, xlsxCellText(name), ` s="${STYLE_HEADER}"`),
  );
  return `<row r="1">${cells.join('')}</row>`;
}

/** The sheet up to its first row: the header row frozen, so it stays in view while scrolling. */
export const XLSX_WORKSHEET_START =
  XML_DECLARATION +
  `<worksheet xmlns="${SPREADSHEET_NS}" xmlns:r="${RELATIONSHIPS_NS}">` +
  '<sheetViews><sheetView workbookViewId="0">' +
  '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/>' +
  '</sheetView></sheetViews><sheetData>';

/** The sheet after its last row. */
export const XLSX_WORKSHEET_END = '</sheetData></worksheet>';

/** A sheet name Excel accepts: at most 31 characters, none of []:*?/\ and not quoted. */
function sheetName(name: string): string {
  const cleaned = name
    .replace(/[[\]:*?/\\]/g, ' ')
    .replace(/^'+|'+$/g, '')
    .slice(0, 31)
    .trim();
  return cleaned === '' ? 'Sheet1' : cleaned;
}

/**
 * The package parts around the sheet, in the order they are stored: content types, relationships,
 * the workbook naming the one sheet, and a minimal style sheet (default; whole numbers without
 * scientific notation; bold header). The sheet itself (XLSX_SHEET_PATH) comes after them.
 */
export function xlsxPackageParts(name: string): { path: string; xml: string }[] {
  return [
    {
      path: '[Content_Types].xml',
      xml:
        XML_DECLARATION +
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
        `<Override PartName="/${XLSX_SHEET_PATH}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>' +
        '</Types>',
    },
    {
      path: '_rels/.rels',
      xml:
        XML_DECLARATION +
        `<Relationships xmlns="${PACKAGE_RELATIONSHIPS_NS}">` +
        `<Relationship Id="rId1" Type="${RELATIONSHIPS_NS}/officeDocument" Target="xl/workbook.xml"/>` +
        '</Relationships>',
    },
    {
      path: 'xl/workbook.xml',
      xml:
        XML_DECLARATION +
        `<workbook xmlns="${SPREADSHEET_NS}" xmlns:r="${RELATIONSHIPS_NS}">` +
        `<bookViews><workbookView/></bookViews><sheets><sheet name="${xmlText(sheetName(name)).replaceAll('"', '&quot;')}" sheetId="1" r:id="rId1"/></sheets>` +
        '</workbook>',
    },
    {
      path: 'xl/_rels/workbook.xml.rels',
      xml:
        XML_DECLARATION +
        `<Relationships xmlns="${PACKAGE_RELATIONSHIPS_NS}">` +
        `<Relationship Id="rId1" Type="${RELATIONSHIPS_NS}/worksheet" Target="worksheets/sheet1.xml"/>` +
        `<Relationship Id="rId2" Type="${RELATIONSHIPS_NS}/styles" Target="styles.xml"/>` +
        '</Relationships>',
    },
    {
      path: 'xl/styles.xml',
      xml:
        XML_DECLARATION +
        `<styleSheet xmlns="${SPREADSHEET_NS}">` +
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>' +
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>' +
        '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>' +
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
        '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' +
        '<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>' +
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>' +
        '</styleSheet>',
    },
  ];
}
