import {
  CSV_LINE_BREAK,
  csvRow,
  FOCUS_COLUMNS,
  focusRecord,
  formatTaxIdentity,
  periodBounds,
  UTF8_BOM,
  type BillingPeriod,
  type CsvValue,
  type XlsxColumnKind,
} from '#domain';
import { amountsOf, type BillingLineEntity } from '#persistence';
import { XlsxSheetFile } from './settlement-xlsx.js';

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

/** Where a file's bytes go, in order (awaited: backpressure). */
export type ByteSink = (bytes: Buffer) => Promise<void>;

/** One export file being written: a line at a time, then its end. */
export interface SettlementFile {
  line(line: BillingLineEntity, index: number): Promise<void>;
  end(rows: number): Promise<void>;
}

/** What a file may depend on besides its lines: the closed period it exports. */
export interface SettlementFileContext {
  period: BillingPeriod;
}

/** A text format's file: the writer's pieces as UTF-8, the header written when the file opens. */
export function textFile(writer: SettlementWriter, sink: ByteSink): SettlementFile {
  const write = (text: string): Promise<void> =>
    text === '' ? Promise.resolve() : sink(Buffer.from(text, 'utf8'));
  let opened: Promise<void> | null = null;
  const open = (): Promise<void> => (opened ??= write(writer.header()));
  return {
    line: async (line, index) => {
      await open();
      await write(writer.row(line, index));
    },
    end: async (rows) => {
      await open();
      await write(writer.footer(rows));
    },
  };
}

/**
 * The XLSX: one sheet (XlsxSheetFile, exceljs), the CSV's header row frozen, then one row per line;
 * the same cell text as the CSV (libs/domain's xlsxCellText), won amounts and quantities as numbers.
 * The workbook's times and the ZIP entries' dates are the end of the exported period, so the same
 * closed period always gives the same bytes.
 */
export function xlsxFile(sink: ByteSink, context: SettlementFileContext): SettlementFile {
  const sheet = new XlsxSheetFile(sink, {
    sheetName: XLSX_SHEET_NAME,
    columns: SETTLEMENT_COLUMNS,
    kinds: XLSX_COLUMN_KINDS,
    fixedTime: periodBounds(context.period).endsAt,
  });
  return {
    line: (line) => sheet.row(settlementCells(line)),
    end: () => sheet.end(),
  };
}

/** A file format: how an export file of it is opened. */
export interface SettlementFormat {
  open(sink: ByteSink, context: SettlementFileContext): SettlementFile;
}

/** The format of an export; undefined for one this deployment cannot write. */
export function settlementFormat(format: string): SettlementFormat | undefined {
  switch (format) {
    case 'csv':
      return { open: (sink) => textFile(csvWriter, sink) };
    case 'json':
      return { open: (sink) => textFile(jsonWriter, sink) };
    case 'xlsx':
      return { open: xlsxFile };
    default:
      return undefined;
  }
}
