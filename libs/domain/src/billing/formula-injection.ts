/** Leading characters that make Excel, LibreOffice or Sheets treat text as a formula (OWASP CSV injection). */
const FORMULA_TRIGGERS = new Set(['=', '+', '-', '@', '\t', '\r']);

/**
 * Text beginning with = + - @ tab or CR, prefixed with ' so no spreadsheet runs it as a formula
 * (Excel shows the rest as text). Every text cell of every export format goes through this, so a
 * cell reads the same in the CSV and the XLSX.
 */
export function neutralizeFormula(text: string): string {
  return FORMULA_TRIGGERS.has(text.charAt(0)) ? `'${text}` : text;
}
