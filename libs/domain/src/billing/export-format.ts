import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { GPU_HOURS_FRACTION_DIGITS } from '../units/gpu-seconds.js';
import { neutralizeFormula } from './formula-injection.js';
import { periodBounds, type BillingPeriod, type ChargeClass } from './billing-period.js';
import { divideRound, formatKrw, type Krw, type RoundingRule } from './money.js';
import type { PricedAmounts } from './pricing.js';

/** Byte order mark that makes Excel open a UTF-8 CSV as UTF-8 (Korean names stay readable). */
export const UTF8_BOM = '\uFEFF';

/** RFC 4180 line break. */
export const CSV_LINE_BREAK = '\r\n';

/** What a cell may hold: text, an exact integer, or nothing (an empty cell). */
export type CsvValue = string | bigint | null;

/**
 * The text of one CSV cell before quoting: text neutralized against formula injection
 * (neutralizeFormula); integers (bigint) are ours and written as is, so a credit stays the number
 * -540000 rather than text; null is an empty cell.
 */
export function csvCellText(value: CsvValue): string {
  if (value === null) return '';
  if (typeof value === 'bigint') return value.toString();
  return neutralizeFormula(value);
}

/** RFC 4180 serialisation (csv-stringify): quoted only when a cell holds a comma, quote or line break. */
const CSV_OPTIONS = {
  delimiter: ',',
  quote: '"',
  escape: '"',
  record_delimiter: CSV_LINE_BREAK,
  // Quote a cell holding CR or LF alone too, not only one holding CRLF.
  quote_record_delimiter: true,
  eof: false,
  bom: false,
  escape_formulas: false,
  quoted: false,
  quoted_empty: false,
} as const;

/** One CSV cell: csvCellText, quoted per RFC 4180 when it needs it. */
export function csvCell(value: CsvValue): string {
  return csvRow([value]);
}

/** One CSV record (no line break). */
export function csvRow(values: readonly CsvValue[]): string {
  const cells = values.map(csvCellText);
  // csv-stringify writes a record of one empty cell as an empty line, which is what RFC 4180 says too.
  return stringify([cells], CSV_OPTIONS);
}

/** A whole CSV file: BOM, header, rows, each ended by CRLF. Same input, same bytes. */
export function csvDocument(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return UTF8_BOM + [header, ...rows].map((row) => csvRow(row) + CSV_LINE_BREAK).join('');
}

/** Reads RFC 4180 text back into records (csv-parse; for verifying exports); a leading BOM is skipped. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = parse(text, {
    bom: true,
    record_delimiter: CSV_LINE_BREAK,
    relax_column_count: true,
  });
  return records;
}

/**
 * GPU-hours as a decimal string from integer GPU-seconds, never via a float: rounded by `rule` to
 * `fractionDigits` (default 6, half_up), trailing zeros trimmed. 5400 → "1.5", 1 → "0.000278".
 * Exact whenever the seconds are a multiple of 9 (3600 = 2⁴·3²·5², so only the 3² can leave a repeating
 * decimal); the GPU-seconds column carries the exact ledger figure in any case.
 */
export function formatGpuHoursDecimal(
  gpuSeconds: bigint,
  fractionDigits = GPU_HOURS_FRACTION_DIGITS,
  rule: RoundingRule = 'half_up',
): string {
  const scale = 10n ** BigInt(fractionDigits);
  const scaled = divideRound(gpuSeconds * scale, 3600n, rule);
  const magnitude = scaled < 0n ? -scaled : scaled;
  const fraction = (magnitude % scale).toString().padStart(fractionDigits, '0').replace(/0+$/, '');
  const text = `${(magnitude / scale).toString()}${fraction === '' ? '' : `.${fraction}`}`;
  return scaled < 0n ? `-${text}` : text;
}

/**
 * The settlement export columns, in file order: FOCUS 1.x columns followed by the Korean settlement
 * columns agencies reconcile on. What each holds is in FOCUS_COLUMN_MEANINGS.
 */
export const FOCUS_COLUMNS = [
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'BillingAccountId',
  'SubAccountId',
  'SkuId',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ConsumedGpuSeconds',
  'ListUnitPrice',
  'ListCost',
  'EffectiveCost',
  'BilledCost',
  'BillingCurrency',
  'InvoiceIssuer',
  'AgencyCode',
  'ProgramCode',
  'BusinessRegistrationNumber',
  'SupplyPrice',
  'VAT',
  'Subsidy',
  'CoPay',
  'AmountDueFromOrganization',
  'AmountFromProgram',
] as const;
export type FocusColumn = (typeof FOCUS_COLUMNS)[number];

/** Which value each column maps to; also the text of the export's data dictionary. */
export const FOCUS_COLUMN_MEANINGS: Readonly<Record<FocusColumn, string>> = {
  BillingPeriodStart:
    'Start of the billing period that carries the line: Seoul midnight of the 1st, as a UTC instant.',
  BillingPeriodEnd:
    'End (exclusive) of that billing period: Seoul midnight of the next 1st, as a UTC instant.',
  ChargePeriodStart: 'Start of the usage the line prices (earlier than the billing period for a correction).',
  ChargePeriodEnd: 'End (exclusive) of the usage the line prices.',
  ChargeCategory: 'Always "Usage": metered GPU time.',
  ChargeClass: 'Empty for a regular line; "Correction" for late usage of a closed period.',
  ChargeDescription: 'GPU model, usage period and price, and the period a correction amends.',
  BillingAccountId: 'The organization billed for the co-pay.',
  SubAccountId: 'The project that used the GPUs.',
  SkuId: 'The GPU model, e.g. H100.',
  ConsumedQuantity: 'GPU-hours, decimal (formatGpuHoursDecimal of ConsumedGpuSeconds).',
  ConsumedUnit: 'Always "GPU-Hours".',
  ConsumedGpuSeconds: 'Exact integer GPU-seconds, equal to the ledger consumption the line prices.',
  ListUnitPrice: 'Rate card price, won per GPU-hour.',
  ListCost: 'Value at list price (정가), won; shown even for free organizations.',
  EffectiveCost: 'Cost after discounts, before subsidy and VAT: the supply price (공급가액), won.',
  BilledCost:
    'The amount invoiced before VAT: the supply price (공급가액), won, split between Subsidy and CoPay.',
  BillingCurrency: 'Always "KRW".',
  InvoiceIssuer: 'Who issues the invoice: the pool operator.',
  AgencyCode: 'The funding agency, e.g. NIPA.',
  ProgramCode: 'The program (funding call).',
  BusinessRegistrationNumber: "The organization's 사업자등록번호, or 고유번호 for a non-profit.",
  SupplyPrice: '공급가액: list value − discount, won.',
  VAT: '부가세 on the policy base, won.',
  Subsidy: '보조금: paid by the program, won.',
  CoPay: '자부담: supply price − subsidy, paid by the organization, won.',
  AmountDueFromOrganization: 'Co-pay plus the VAT the organization pays, won.',
  AmountFromProgram: 'Subsidy plus the VAT the program pays, won.',
};

/** One settlement line to export: where it is charged, what it priced, and who it belongs to. */
export interface FocusLineInput {
  /** The billing period that carries the line (for a correction, the later open one). */
  billingPeriod: BillingPeriod;
  chargeClass: ChargeClass;
  /** For a correction, the period whose usage it carries. */
  correctsPeriod: BillingPeriod | null;
  usageStartsAt: Date;
  usageEndsAt: Date;
  gpuModel: string;
  krwPerGpuHour: Krw;
  amounts: PricedAmounts;
  organizationId: string;
  projectId: string;
  invoiceIssuer: string;
  agencyCode: string;
  programCode: string;
  businessRegistrationNumber: string;
}

/** "H100 GPU usage at 3,000원/GPU-hour, correction of 2026-04". */
export function chargeDescription(line: FocusLineInput): string {
  const base = `${line.gpuModel} GPU usage at ${formatKrw(line.krwPerGpuHour)}/GPU-hour`;
  return line.correctsPeriod === null ? base : `${base}, correction of ${line.correctsPeriod}`;
}

/** A settlement line as export cells, keyed by column. */
export function focusRecord(line: FocusLineInput): Record<FocusColumn, CsvValue> {
  const bounds = periodBounds(line.billingPeriod);
  const a = line.amounts;
  return {
    BillingPeriodStart: bounds.startsAt.toISOString(),
    BillingPeriodEnd: bounds.endsAt.toISOString(),
    ChargePeriodStart: line.usageStartsAt.toISOString(),
    ChargePeriodEnd: line.usageEndsAt.toISOString(),
    ChargeCategory: 'Usage',
    ChargeClass: line.chargeClass,
    ChargeDescription: chargeDescription(line),
    BillingAccountId: line.organizationId,
    SubAccountId: line.projectId,
    SkuId: line.gpuModel,
    ConsumedQuantity: formatGpuHoursDecimal(a.gpuSeconds),
    ConsumedUnit: 'GPU-Hours',
    ConsumedGpuSeconds: a.gpuSeconds,
    ListUnitPrice: line.krwPerGpuHour,
    ListCost: a.listValue,
    EffectiveCost: a.supplyPrice,
    BilledCost: a.supplyPrice,
    BillingCurrency: 'KRW',
    InvoiceIssuer: line.invoiceIssuer,
    AgencyCode: line.agencyCode,
    ProgramCode: line.programCode,
    BusinessRegistrationNumber: line.businessRegistrationNumber,
    SupplyPrice: a.supplyPrice,
    VAT: a.vat,
    Subsidy: a.subsidy,
    CoPay: a.coPay,
    AmountDueFromOrganization: a.totalDueFromOrganization,
    AmountFromProgram: a.totalFromProgram,
  };
}

/** The settlement CSV: BOM, FOCUS_COLUMNS header, one row per line in the given order, CRLF. */
export function focusCsv(lines: readonly FocusLineInput[]): string {
  return csvDocument(
    FOCUS_COLUMNS,
    lines.map((line) => {
      const record = focusRecord(line);
      return FOCUS_COLUMNS.map((column) => record[column]);
    }),
  );
}

// The cell rules shared by every format, and the XLSX sheet parts: exported with the CSV ones.
export * from './formula-injection.js';
export * from './xlsx.js';
