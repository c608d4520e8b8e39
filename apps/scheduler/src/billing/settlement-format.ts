import {
  CSV_LINE_BREAK,
  csvRow,
  FOCUS_COLUMNS,
  focusRecord,
  formatTaxIdentity,
  UTF8_BOM,
  type CsvValue,
} from '#domain';
import { amountsOf, type BillingLineEntity } from '#persistence';

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

/** The writer of a format; undefined for a format without one (xlsx: no streaming writer installed). */
export function settlementWriter(format: string): SettlementWriter | undefined {
  switch (format) {
    case 'csv':
      return csvWriter;
    case 'json':
      return jsonWriter;
    default:
      return undefined;
  }
}
