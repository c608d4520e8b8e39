import { conflict, invalid } from '../errors/domain-error.js';
import { isValidInstant, type TimeWindow } from '../units/time-window.js';
import { SEOUL_OFFSET_MS, seoulMonth } from '../usage/day-split.js';

/**
 * A billing period is a calendar month in Asia/Seoul written 'YYYY-MM' (e.g. '2026-05'). Zero-padded
 * four-digit years make string order the same as time order.
 */
export type BillingPeriod = string;

const PERIOD_PATTERN = /^(\d{4})-(\d{2})$/;
const FIRST_YEAR = 1970;

function yearAndMonth(text: string): { year: number; month: number } | undefined {
  const match = PERIOD_PATTERN.exec(text);
  if (match === null) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  return year >= FIRST_YEAR && month >= 1 && month <= 12 ? { year, month } : undefined;
}

/** True for a well-formed 'YYYY-MM' from 1970-01 on. */
export function isBillingPeriod(value: unknown): value is BillingPeriod {
  return typeof value === 'string' && yearAndMonth(value) !== undefined;
}

function badPeriod(text: string) {
  return invalid(
    'INVALID_BILLING_PERIOD',
    `A billing period is a Seoul calendar month written YYYY-MM, such as 2026-05; got "${text}".`,
    { value: text },
  );
}

/** Checks untrusted text (a path or query parameter); INVALID_BILLING_PERIOD (invalid) when malformed. */
export function parsePeriod(text: string): BillingPeriod {
  if (!isBillingPeriod(text)) throw badPeriod(text);
  return text;
}

function parts(period: BillingPeriod): { year: number; month: number } {
  const parsed = yearAndMonth(period);
  if (parsed === undefined) throw badPeriod(period);
  return parsed;
}

function format(year: number, month: number): BillingPeriod {
  // parsePeriod refuses the step past 9999-12 (or before 1970-01) instead of writing a bad period.
  return parsePeriod(`${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`);
}

/** The billing period an instant falls in: its Seoul calendar month. */
export function periodOf(instant: Date): BillingPeriod {
  if (!isValidInstant(instant)) {
    throw invalid('INVALID_TIMESTAMP', 'A billing period can only be found for a valid instant.');
  }
  return seoulMonth(instant);
}

/** [Seoul midnight of the 1st, Seoul midnight of the next 1st) as UTC instants (UTC+9, no DST). */
export function periodBounds(period: BillingPeriod): TimeWindow {
  const { year, month } = parts(period);
  return {
    startsAt: new Date(Date.UTC(year, month - 1, 1) - SEOUL_OFFSET_MS),
    endsAt: new Date(Date.UTC(year, month, 1) - SEOUL_OFFSET_MS),
  };
}

/** '2026-12' → '2027-01'. */
export function nextPeriod(period: BillingPeriod): BillingPeriod {
  const { year, month } = parts(period);
  return month === 12 ? format(year + 1, 1) : format(year, month + 1);
}

/** '2027-01' → '2026-12'. */
export function previousPeriod(period: BillingPeriod): BillingPeriod {
  const { year, month } = parts(period);
  return month === 1 ? format(year - 1, 12) : format(year, month - 1);
}

/** Negative, zero or positive as `a` is before, equal to or after `b`; for sorting. */
export function comparePeriods(a: BillingPeriod, b: BillingPeriod): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const BILLING_PERIOD_STATES = ['open', 'closing', 'closed'] as const;
/** open: takes charges. closing: totals being finalised, takes none. closed: immutable forever (invariant 6). */
export type BillingPeriodState = (typeof BILLING_PERIOD_STATES)[number];

export const BILLING_PERIOD_ACTIONS = ['start_closing', 'reopen', 'close'] as const;
export type BillingPeriodAction = (typeof BILLING_PERIOD_ACTIONS)[number];

/** The whole graph; anything missing is illegal. `reopen` lets finance abandon a close that found a problem. */
const PERIOD_TRANSITIONS: Readonly<
  Record<BillingPeriodState, Readonly<Partial<Record<BillingPeriodAction, BillingPeriodState>>>>
> = {
  open: { start_closing: 'closing' },
  closing: { close: 'closed', reopen: 'open' },
  closed: {},
};

const PERIOD_HINTS: Readonly<Record<BillingPeriodState, string>> = {
  open: 'Start closing it first.',
  closing: 'Close it, or reopen it to take charges again.',
  closed: 'A closed period never changes; late usage goes to the next open period as a correction.',
};

/** True for states with no way out (closed). */
export function isBillingPeriodFinal(state: BillingPeriodState): boolean {
  return Object.keys(PERIOD_TRANSITIONS[state]).length === 0;
}

export function canTransitionBillingPeriod(from: BillingPeriodState, action: BillingPeriodAction): boolean {
  return PERIOD_TRANSITIONS[from][action] !== undefined;
}

/** The state after `action`, or ILLEGAL_TRANSITION (conflict) naming the state it was in. */
export function transitionBillingPeriod(
  from: BillingPeriodState,
  action: BillingPeriodAction,
  period?: BillingPeriod,
): BillingPeriodState {
  const to = PERIOD_TRANSITIONS[from][action];
  if (to === undefined) {
    const which = period === undefined ? 'a billing period' : `billing period ${period}`;
    throw conflict(
      'ILLEGAL_TRANSITION',
      `Cannot ${action.replace('_', ' ')} ${which} that is ${from}. ${PERIOD_HINTS[from]}`,
      { from, action, period },
    );
  }
  return to;
}

/** Guards a write of charges: BILLING_PERIOD_NOT_OPEN (conflict) unless the period is open. */
export function assertPeriodOpen(period: BillingPeriod, state: BillingPeriodState): void {
  if (state !== 'open') {
    throw conflict(
      'BILLING_PERIOD_NOT_OPEN',
      `Billing period ${period} is ${state} and takes no charges. ${PERIOD_HINTS[state]}`,
      { period, state },
    );
  }
}

/** FOCUS ChargeClass: null for a regular charge, 'Correction' for one that amends an earlier period. */
export type ChargeClass = 'Correction' | null;

export interface ChargePlacement {
  /** The period whose statement carries the charge. */
  chargePeriod: BillingPeriod;
  chargeClass: ChargeClass;
  /** The period the usage happened in, named by a correction; null for a regular charge. */
  correctsPeriod: BillingPeriod | null;
}

/**
 * Where usage of `usagePeriod` is charged. Its own period while open; once that period is closing or
 * closed (pass both as `closedPeriods`: neither takes charges) the earliest open period after it, as a
 * 'Correction' naming the original. Throws BILLING_PERIOD_NOT_OPEN when the usage period is neither
 * (it must be opened first) and NO_OPEN_BILLING_PERIOD when no later period is open.
 */
export function chargePeriodFor(
  usagePeriod: BillingPeriod,
  closedPeriods: Iterable<BillingPeriod>,
  openPeriods: Iterable<BillingPeriod>,
): ChargePlacement {
  parsePeriod(usagePeriod);
  const closed = new Set(closedPeriods);
  const open = [...openPeriods].filter((period) => !closed.has(period));
  if (open.includes(usagePeriod)) {
    return { chargePeriod: usagePeriod, chargeClass: null, correctsPeriod: null };
  }
  if (!closed.has(usagePeriod)) {
    throw conflict(
      'BILLING_PERIOD_NOT_OPEN',
      `Billing period ${usagePeriod} has not been opened, so its usage cannot be charged yet; open it first.`,
      { period: usagePeriod },
    );
  }
  const later = open.filter((period) => period > usagePeriod).sort(comparePeriods);
  const chargePeriod = later[0];
  if (chargePeriod === undefined) {
    throw conflict(
      'NO_OPEN_BILLING_PERIOD',
      `Usage of ${usagePeriod} arrived after that period stopped taking charges, and no later billing period is open to carry the correction; open ${nextPeriod(usagePeriod)} or later.`,
      { period: usagePeriod },
    );
  }
  return { chargePeriod, chargeClass: 'Correction', correctsPeriod: usagePeriod };
}
