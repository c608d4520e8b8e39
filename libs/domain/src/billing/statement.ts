import { conflict } from '../errors/domain-error.js';
import { monthOfDay, splitUsageByDay } from '../usage/day-split.js';
import type { BillingPeriod } from './billing-period.js';
import type { Krw } from './money.js';
import type { PricedAmounts } from './pricing.js';
import { priceSegments, type RateCard } from './rate-card.js';

/** A piece of one usage record inside one Seoul day under one rate card. */
export interface UsagePiece {
  /** Seoul calendar day, 'YYYY-MM-DD'. */
  day: string;
  period: BillingPeriod;
  gpuModel: string;
  /** Whole-second bounds of the billed seconds the piece holds. */
  startsAt: Date;
  endsAt: Date;
  gpuSeconds: bigint;
  krwPerGpuHour: Krw;
  rateEffectiveFrom: Date;
}

/** A day's billed seconds [fromSecond, toSecond) cut at rate changes; Unix seconds in, pieces out. */
function piecesOfDay(
  day: string,
  fromSecond: number,
  toSecond: number,
  gpus: bigint,
  cards: readonly RateCard[],
  gpuModel: string,
): UsagePiece[] {
  const segments = priceSegments(cards, gpuModel, new Date(fromSecond * 1000), new Date(toSecond * 1000));
  return segments
    .map((segment) => {
      // A change inside a second takes effect from the next one: a second is priced as at its start.
      const start = Math.ceil(segment.startsAt.getTime() / 1000);
      const end = Math.ceil(segment.endsAt.getTime() / 1000);
      return {
        day,
        period: monthOfDay(day),
        gpuModel,
        startsAt: new Date(start * 1000),
        endsAt: new Date(end * 1000),
        gpuSeconds: gpus * BigInt(end - start),
        krwPerGpuHour: segment.krwPerGpuHour,
        rateEffectiveFrom: segment.rateEffectiveFrom,
      };
    })
    .filter((piece) => piece.gpuSeconds > 0n);
}

/**
 * Cuts a usage record at Seoul midnights (splitUsageByDay, so months and periods follow) and at rate
 * changes. Each billed second is priced by the card in effect at its start; the pieces' GPU-seconds are
 * exact and add up to meteredGpuSeconds. Throws NO_RATE_CARD when some second has no price.
 */
export function splitUsageAtRateChanges(
  gpus: number,
  startedAt: Date,
  endedAt: Date,
  cards: readonly RateCard[],
  gpuModel: string,
): UsagePiece[] {
  const perGpu = BigInt(gpus);
  const pieces: UsagePiece[] = [];
  // splitUsageByDay lays the billed seconds consecutively from the second the record started in.
  let second = Math.floor(startedAt.getTime() / 1000);
  for (const daily of splitUsageByDay(gpus, startedAt, endedAt)) {
    // Seconds, not money: an exact bigint quotient of at most 86,400 (one day), so exact as a number.
    const dayEnd = second + Number(daily.gpuSeconds / perGpu);
    pieces.push(...piecesOfDay(daily.day, second, dayEnd, perGpu, cards, gpuModel));
    second = dayEnd;
  }
  return pieces;
}

/** The unit that is priced (and rounded) once: usage of one model in one period at one price. */
export interface UsageLine {
  period: BillingPeriod;
  gpuModel: string;
  krwPerGpuHour: Krw;
  rateEffectiveFrom: Date;
  /** Earliest start and latest end of the pieces in the line (FOCUS ChargePeriodStart/End). */
  startsAt: Date;
  endsAt: Date;
  gpuSeconds: bigint;
}

function lineKey(piece: UsagePiece): string {
  return [piece.period, piece.gpuModel, piece.rateEffectiveFrom.getTime(), piece.krwPerGpuHour].join(
    '\u0000',
  );
}

function mergeInto(line: UsageLine, piece: UsagePiece): void {
  line.gpuSeconds += piece.gpuSeconds;
  if (piece.startsAt < line.startsAt) line.startsAt = piece.startsAt;
  if (piece.endsAt > line.endsAt) line.endsAt = piece.endsAt;
}

/**
 * Pieces (of any number of records) added up per period, model and rate card: a price change
 * mid-month gives two lines, and each line is rounded once, not once per record. Ordered by period,
 * model, then rate card, so the same pieces always give the same lines.
 */
export function linesByPeriodAndRate(pieces: readonly UsagePiece[]): UsageLine[] {
  const lines = new Map<string, UsageLine>();
  for (const piece of pieces) {
    const existing = lines.get(lineKey(piece));
    if (existing === undefined) {
      const { day: _day, ...line } = piece;
      lines.set(lineKey(piece), line);
    } else {
      mergeInto(existing, piece);
    }
  }
  return [...lines.values()].sort(
    (a, b) =>
      compareText(a.period, b.period) ||
      compareText(a.gpuModel, b.gpuModel) ||
      a.rateEffectiveFrom.getTime() - b.rateEffectiveFrom.getTime(),
  );
}

/** Code-unit order: the same everywhere, unlike localeCompare, so exports are byte-identical. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every amount field of PricedAmounts, in statement order. */
export const AMOUNT_FIELDS = [
  'gpuSeconds',
  'listValue',
  'discount',
  'supplyPrice',
  'subsidy',
  'coPay',
  'vat',
  'vatFromOrganization',
  'vatFromProgram',
  'totalDueFromOrganization',
  'totalFromProgram',
  'total',
] as const satisfies readonly (keyof PricedAmounts)[];

/** All zero: the totals of no lines. */
export function zeroAmounts(): PricedAmounts {
  return Object.fromEntries(AMOUNT_FIELDS.map((field) => [field, 0n])) as unknown as PricedAmounts;
}

/**
 * Field-by-field sums, exact. Statement totals are sums of rounded lines and are never rounded again,
 * so a statement always equals the sum of its lines.
 */
export function sumAmounts(lines: readonly PricedAmounts[]): PricedAmounts {
  const totals = zeroAmounts();
  for (const line of lines) {
    for (const field of AMOUNT_FIELDS) totals[field] += line[field];
  }
  return totals;
}

export const STATEMENT_GROUPINGS = ['project', 'organization', 'program', 'agency'] as const;
export type StatementGrouping = (typeof STATEMENT_GROUPINGS)[number];

/** Who a priced line belongs to; a line is in one statement of each grouping. */
export interface StatementLineKeys {
  projectId: string;
  organizationId: string;
  programId: string;
  agencyId: string;
}

export type StatementLine = StatementLineKeys & PricedAmounts;

export interface Statement extends PricedAmounts {
  grouping: StatementGrouping;
  /** The project, organization, program or agency id. */
  key: string;
  lineCount: number;
}

const KEY_FIELDS: Readonly<Record<StatementGrouping, keyof StatementLineKeys>> = {
  project: 'projectId',
  organization: 'organizationId',
  program: 'programId',
  agency: 'agencyId',
};

/** Lines summed per key, ordered by key; the general form of statementsBy. */
export function groupAmounts<T extends PricedAmounts>(
  lines: readonly T[],
  keyOf: (line: T) => string,
): { key: string; lineCount: number; amounts: PricedAmounts }[] {
  const groups = new Map<string, { key: string; lineCount: number; amounts: PricedAmounts }>();
  for (const line of lines) {
    const key = keyOf(line);
    let group = groups.get(key);
    if (group === undefined) {
      group = { key, lineCount: 0, amounts: zeroAmounts() };
      groups.set(key, group);
    }
    group.lineCount += 1;
    for (const field of AMOUNT_FIELDS) group.amounts[field] += line[field];
  }
  return [...groups.values()].sort((a, b) => compareText(a.key, b.key));
}

/** One statement per project, organization, program or agency, with every amount summed exactly. */
export function statementsBy(lines: readonly StatementLine[], grouping: StatementGrouping): Statement[] {
  const field = KEY_FIELDS[grouping];
  return groupAmounts(lines, (line) => line[field]).map(({ key, lineCount, amounts }) => ({
    ...amounts,
    grouping,
    key,
    lineCount,
  }));
}

/** The identities every priced line and every statement satisfies; each broken one, in words. */
export function amountsProblems(amounts: PricedAmounts): string[] {
  const a = amounts;
  const checks: [boolean, string][] = [
    [a.listValue - a.discount === a.supplyPrice, 'list value − discount ≠ supply price'],
    [a.subsidy + a.coPay === a.supplyPrice, 'subsidy + co-pay ≠ supply price'],
    [a.vatFromOrganization + a.vatFromProgram === a.vat, 'VAT shares ≠ VAT'],
    [a.coPay + a.vatFromOrganization === a.totalDueFromOrganization, 'co-pay + VAT ≠ organization total'],
    [a.subsidy + a.vatFromProgram === a.totalFromProgram, 'subsidy + VAT ≠ program total'],
    [a.supplyPrice + a.vat === a.total, 'supply price + VAT ≠ total'],
    [a.totalDueFromOrganization + a.totalFromProgram === a.total, 'organization + program ≠ total'],
  ];
  return checks.filter(([holds]) => !holds).map(([, message]) => message);
}

/**
 * Invariant 6 before a period closes: the statement's GPU-seconds equal the ledger's consumption and
 * its amounts add up. Throws STATEMENT_LEDGER_MISMATCH (conflict) otherwise.
 */
export function assertReconciles(amounts: PricedAmounts, ledgerConsumedGpuSeconds: bigint): void {
  const problems = amountsProblems(amounts);
  if (amounts.gpuSeconds !== ledgerConsumedGpuSeconds) {
    problems.unshift(
      `statement has ${amounts.gpuSeconds.toString()} GPU-seconds, ledger consumed ${ledgerConsumedGpuSeconds.toString()}`,
    );
  }
  if (problems.length > 0) {
    throw conflict(
      'STATEMENT_LEDGER_MISMATCH',
      `The statement does not reconcile: ${problems.join('; ')}. Do not close the period; recompute it from the ledger.`,
      { problems },
    );
  }
}
