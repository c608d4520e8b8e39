import {
  CSV_LINE_BREAK,
  csvRow,
  FOCUS_COLUMNS,
  focusRecord,
  formatTaxIdentity,
  UTF8_BOM,
  XLSX_WORKSHEET_END,
  XLSX_WORKSHEET_START,
  xlsxHeaderRow,
  xlsxRow,
  type CsvValue,
  type XlsxColumnKind,
} from '#domain';
import { amountsOf, type BillingLineEntity } from '#persistence';
import { XlsxPackageEncoder } from './xlsx-package.js';

/** Who issues the settlement invoices (FOCUS InvoiceIssuer). */
export const INVOICE_ISSUER = 'gpupool national GPU pool';

/**
 * Columns after libs/domain's FOCUS_COLUMNS: the FOCUS names of the billed organization and project,
 * and the Korean settlement fields the domain's list does not carry.
 */
export const SETTLEMENT_EXTRA_COLUMNS = [
  'BillingAccountName',
  'SubAccountName',
  'OrganizationType',
  'ProgramName',
  'Discount',
  'VatPayer',
  'VatFromOrganization',
  'VatFromProgram',
  'CorrectionReason',
  'LineNumber',
] as const;

export const SETTLEMENT_COLUMNS = [...FOCUS_COLUMNS, ...SETTLEMENT_EXTRA_COLUMNS] as const;
export type SettlementColumn = (typeof SETTLEMENT_COLUMNS)[number];

/**
 * Columns the XLSX writes as numbers: won amounts, GPU quantities and the line number (so a sheet
 * sums and sorts them). Every other column is text, exactly as in the CSV.
 */
export const SETTLEMENT_NUMERIC_COLUMNS: ReadonlySet<SettlementColumn> = new Set<SettlementColumn>([
  'ConsumedQuantity',
  'ConsumedGpuSeconds',
  'ListUnitPrice',
  'ListCost',
  'EffectiveCost',
  'BilledCost',
  'SupplyPrice',
  'VAT',
  'Subsidy',
  'CoPay',
  'AmountDueFromOrganization',
  'AmountFromProgram',
  'Discount',
  'VatFromOrganization',
  'VatFromProgram',
  'LineNumber',
]);

const XLSX_COLUMN_KINDS: readonly XlsxColumnKind[] = SETTLEMENT_COLUMNS.map((column) =>
  SETTLEMENT_NUMERIC_COLUMNS.has(column) ? 'number' : 'text',
);

/** The name of the XLSX's one sheet. */
export const XLSX_SHEET_NAME = 'Settlement';

/** One stored line as export cells, in SETTLEMENT_COLUMNS order. */
export function settlementCells(line: BillingLineEntity): CsvValue[] {
  const amounts = amountsOf(line);
  const focus = focusRecord({
    billingPeriod: line.period,
    chargeClass: line.chargeClass === '' ? null : 'Correction',
    correctsPeriod: line.originalPeriod,
    usageStartsAt: line.chargeStart,
    usageEndsAt: line.chargeEnd,
    gpuModel: line.gpuModel,
    krwPerGpuHour: line.krwPerGpuHour,
    amounts,
    organizationId: line.organizationId,
    projectId: line.projectId,
    invoiceIssuer: INVOICE_ISSUER,
    agencyCode: line.agencyCode,
    programCode: line.programCode,
    businessRegistrationNumber:
      line.businessRegistrationNumber === null ? '' : formatTaxIdentity(line.businessRegistrationNumber),
  });
  const extra: Record<(typeof SETTLEMENT_EXTRA_COLUMNS)[number], CsvValue> = {
    BillingAccountName: line.organizationName,
    SubAccountName: line.projectTitle,
    OrganizationType: line.orgType,
    ProgramName: line.programName,
    Discount: line.discount,
    VatPayer: line.vatPayer,
    VatFromOrganization: line.vatFromOrganization,
    VatFromProgram: line.vatFromProgram,
    CorrectionReason: line.correctionReason,
    LineNumber: BigInt(line.lineNo),
  };
  return [...FOCUS_COLUMNS.map((column) => focus[column]), ...SETTLEMENT_EXTRA_COLUMNS.map((c) => extra[c])];
}

/**
 * Turns lines into the bytes of a file, piece by piece: a header, one piece per line, a footer. The
 * same lines always give the same text (no timestamps, fixed column and key order).
 */
export interface SettlementWriter {
  header(): string;
  row(line: BillingLineEntity, index: number): string;
  footer(rows: number): string;
}

/** CSV for Excel: UTF-8 BOM, RFC 4180, CRLF; text cells neutralized against formula injection (csvCell). */
export const csvWriter: SettlementWriter = {
  header: () => UTF8_BOM + csvRow(SETTLEMENT_COLUMNS) + CSV_LINE_BREAK,
  row: (line) => csvRow(settlementCells(line)) + CSV_LINE_BREAK,
  footer: () => '',
};

/**
 * One JSON array, written element by element: `[`, then each line as an object keyed by column (in
 * column order; integers as decimal strings, exact; empty cells null), then `]`.
 */
export const jsonWriter: SettlementWriter = {
  header: () => '[\n',
  row: (line, index) => {
    const cells = settlementCells(line);
    const record = Object.fromEntries(
      SETTLEMENT_COLUMNS.map((column, position) => {
        const value = cells[position] ?? null;
        return [column, typeof value === 'bigint' ? value.toString() : value];
      }),
    );
    return (index === 0 ? '' : ',\n') + JSON.stringify(record);
  },
  footer: (rows) => (rows === 0 ? ']\n' : '\n]\n'),
};

/**
 * The XLSX's sheet XML: the header row (the CSV's header) frozen, then one row per line; the same
 * cell text as the CSV (libs/domain's xlsxCellText), won amounts and quantities as numbers.
 */
export const xlsxSheetWriter: SettlementWriter = {
  header: () => XLSX_WORKSHEET_START + xlsxHeaderRow(SETTLEMENT_COLUMNS),
  row: (line, index) => xlsxRow(index + 2, settlementCells(line), XLSX_COLUMN_KINDS),
  footer: () => XLSX_WORKSHEET_END,
};

/** Where a file's bytes go, in order (awaited: backpressure). */
export type ByteSink = (bytes: Buffer) => Promise<void>;

/** Turns a writer's text into the file's bytes. */
export interface SettlementEncoder {
  write(text: string): Promise<void>;
  end(): Promise<void>;
}

/** The file is the text itself, UTF-8. */
export function utf8Encoder(sink: ByteSink): SettlementEncoder {
  return {
    write: (text) => (text === '' ? Promise.resolve() : sink(Buffer.from(text, 'utf8'))),
    end: () => Promise.resolve(),
  };
}

/** A file format: the text a writer produces and how it becomes bytes. */
export interface SettlementFormat {
  writer: SettlementWriter;
  encoder(sink: ByteSink): SettlementEncoder;
}

/** The format of an export; undefined for one this deployment cannot write. */
export function settlementFormat(format: string): SettlementFormat | undefined {
  switch (format) {
    case 'csv':
      return { writer: csvWriter, encoder: utf8Encoder };
    case 'json':
      return { writer: jsonWriter, encoder: utf8Encoder };
    case 'xlsx':
      return { writer: xlsxSheetWriter, encoder: (sink) => new XlsxPackageEncoder(sink, XLSX_SHEET_NAME) };
    default:
      return undefined;
  }
}
