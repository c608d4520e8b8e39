import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import { formatSeoulDateTime, seoulDay } from './day-split.js';

/** A PI hears about usage when consumption reaches these shares of the grant. */
export const USAGE_THRESHOLDS_PERCENT = [50, 80, 100] as const;
export type UsageThresholdPercent = (typeof USAGE_THRESHOLDS_PERCENT)[number];

export const USAGE_ALERT_KINDS = ['usage_threshold', 'burn_rate'] as const;
export type UsageAlertKind = (typeof USAGE_ALERT_KINDS)[number];

/** Who an alert is about, as a PI would recognise it. */
export interface AlertSubject {
  allocationId: string;
  gpuModel: string;
  projectName?: string;
}

/** What a notification job sends: `key` dedupes it, so a redelivered job notifies once. */
export interface UsageAlert {
  key: string;
  kind: UsageAlertKind;
  message: string;
}

function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

function hours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hours`;
}

function subjectName(subject: AlertSubject): string {
  return subject.projectName === undefined
    ? `Allocation ${subject.allocationId} (${subject.gpuModel})`
    : `${subject.projectName}'s ${subject.gpuModel} allocation (${subject.allocationId})`;
}

/** The least consumption that reaches `percent` of the grant: ⌈granted × percent / 100⌉. */
export function thresholdGpuSeconds(granted: bigint, percent: number): bigint {
  return ceilDiv(granted * BigInt(percent), 100n);
}

/**
 * Thresholds that consumption passed going from usedBefore to usedAfter: those with
 * usedBefore < ⌈granted × p / 100⌉ ≤ usedAfter. Nothing for an empty grant or falling usage (a refund),
 * so each threshold is announced once as usage climbs.
 */
export function crossedThresholds(
  granted: bigint,
  usedBefore: bigint,
  usedAfter: bigint,
): UsageThresholdPercent[] {
  if (granted <= 0n) return [];
  return USAGE_THRESHOLDS_PERCENT.filter((percent) => {
    const threshold = thresholdGpuSeconds(granted, percent);
    return usedBefore < threshold && threshold <= usedAfter;
  });
}

/** `<kind>:<allocation>:<detail>`, the dedupe key of one alert. */
export function alertKey(allocationId: string, kind: UsageAlertKind, detail: string | number): string {
  return `${kind}:${allocationId}:${detail}`;
}

/** Each threshold is announced once per allocation: `usage_threshold:<allocation>:80`. */
export function thresholdAlertKey(allocationId: string, percent: UsageThresholdPercent): string {
  return alertKey(allocationId, 'usage_threshold', percent);
}

/**
 * The burn-rate warning repeats at most once per Seoul day (`burn_rate:<allocation>:2026-05-01`):
 * a projection changes with the pace of work, so a once-only warning would go stale, while a daily
 * one reminds without flooding.
 */
export function burnRateAlertKey(allocationId: string, now: Date): string {
  return alertKey(allocationId, 'burn_rate', seoulDay(now));
}

/** Sentence for a PI whose allocation passed `percent` of its grant, saying what to do next. */
export function thresholdMessage(
  subject: AlertSubject,
  percent: UsageThresholdPercent,
  granted: bigint,
  consumed: bigint,
  windowEnd: Date,
): string {
  const name = subjectName(subject);
  if (percent === 100) {
    const over = consumed > granted ? `, ${hours(consumed - granted)} over` : '';
    return (
      `${name} has used all of its ${hours(granted)} (${hours(consumed)} used${over}). ` +
      `Running workloads may finish, but new ones will not be admitted. ` +
      `To keep working, ask the program for an extension or apply for a new allocation.`
    );
  }
  return (
    `${name} has used ${percent}% of its grant: ${hours(consumed)} of ${hours(granted)}, ` +
    `${hours(granted - consumed)} left until the window ends ${formatSeoulDateTime(windowEnd)}. ` +
    `Plan your remaining runs to fit, or ask the program for more before it runs out.`
  );
}

/**
 * The alert for a change in consumption, if it crossed a threshold. One step that crosses several
 * (a long record landing at once) sends one notification, for the highest: "80% used" right before
 * "100% used" tells a PI nothing. Usage only climbs again after a refund, so skipped keys stay unused.
 */
export function thresholdAlert(
  subject: AlertSubject,
  granted: bigint,
  usedBefore: bigint,
  usedAfter: bigint,
  windowEnd: Date,
): UsageAlert | null {
  const percent = crossedThresholds(granted, usedBefore, usedAfter).at(-1);
  if (percent === undefined) return null;
  return {
    key: thresholdAlertKey(subject.allocationId, percent),
    kind: 'usage_threshold',
    message: thresholdMessage(subject, percent, granted, usedAfter, windowEnd),
  };
}

export interface BurnRateInput {
  granted: bigint;
  consumed: bigint;
  held: bigint;
  windowStart: Date;
  windowEnd: Date;
  now: Date;
  /** GPU-seconds consumed in the last recentWindowSeconds before `now`. */
  recentConsumed: bigint;
  /** Length of the look-back, e.g. 86400 for the last day; a positive whole number. */
  recentWindowSeconds: number;
}

export interface ExhaustionProjection {
  /** When the allocation runs out at the recent pace; null when nothing is being used. */
  exhaustsAt: Date | null;
  beforeWindowEnd: boolean;
  /** GPU-seconds per second (the average number of busy GPUs), exact decimal truncated to 6 digits. */
  ratePerSecond: string;
}

// The latest instant a Date can hold (ECMAScript: ±8.64e15 ms).
const LATEST_DATE_MS = 8_640_000_000_000_000n;

/**
 * The look-back actually observed: the recent window, shortened to the time since the allocation
 * started (usage before the start cannot exist, so dividing by the full window would understate the
 * pace of a new allocation). Whole seconds; 0 before the start.
 */
export function observedRateSeconds(input: BurnRateInput): bigint {
  if (!Number.isSafeInteger(input.recentWindowSeconds) || input.recentWindowSeconds <= 0) {
    throw new TypeError(
      `recentWindowSeconds must be a positive whole number, got ${input.recentWindowSeconds}`,
    );
  }
  const sinceStart = BigInt(Math.floor((input.now.getTime() - input.windowStart.getTime()) / 1000));
  const recent = BigInt(input.recentWindowSeconds);
  if (sinceStart <= 0n) return 0n;
  return sinceStart < recent ? sinceStart : recent;
}

/** numerator / denominator as an exact decimal truncated to `digits` fractional digits, zeros trimmed. */
function formatQuotient(numerator: bigint, denominator: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const scaled = (numerator * scale) / denominator;
  const fraction = (scaled % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  const whole = (scaled / scale).toString();
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

/**
 * Projects when an allocation runs out if it keeps the recent pace. In exact integers:
 *   rate      = recentConsumed / observed seconds         (GPU-seconds per second, a fraction)
 *   remaining = granted − consumed − held                 (holds are spoken for by running work)
 *   exhaustsAt = now                                      when remaining ≤ 0
 *              = null                                     when rate = 0
 *              = now + ⌈remaining × observed / recentConsumed⌉ s   otherwise
 * beforeWindowEnd says whether that instant falls before the window ends: the reason to warn.
 */
export function projectExhaustion(input: BurnRateInput): ExhaustionProjection {
  const observed = observedRateSeconds(input);
  const recent = input.recentConsumed > 0n ? input.recentConsumed : 0n;
  const ratePerSecond = observed === 0n ? '0' : formatQuotient(recent, observed, 6);
  const remaining = input.granted - input.consumed - input.held;
  let exhaustsAt: Date | null = null;
  if (remaining <= 0n) {
    exhaustsAt = input.now;
  } else if (observed > 0n && recent > 0n) {
    const atMs = BigInt(input.now.getTime()) + ceilDiv(remaining * observed, recent) * 1000n;
    // A pace so slow it would outlast the calendar is, for people, no exhaustion at all.
    exhaustsAt = atMs <= LATEST_DATE_MS ? new Date(Number(atMs)) : null;
  }
  const beforeWindowEnd = exhaustsAt !== null && exhaustsAt.getTime() < input.windowEnd.getTime();
  return { exhaustsAt, beforeWindowEnd, ratePerSecond };
}

function describeSeconds(seconds: bigint): string {
  if (seconds % 86_400n === 0n) return seconds === 86_400n ? 'day' : `${seconds / 86_400n} days`;
  if (seconds % 3600n === 0n) return seconds === 3600n ? 'hour' : `${seconds / 3600n} hours`;
  if (seconds % 60n === 0n) return seconds === 60n ? 'minute' : `${seconds / 60n} minutes`;
  return `${seconds} seconds`;
}

/** Sentence for a PI whose allocation will run out before its window ends at the recent pace. */
export function burnRateMessage(subject: AlertSubject, input: BurnRateInput, exhaustsAt: Date): string {
  const observed = observedRateSeconds(input);
  const busyGpus = observed === 0n ? '0' : formatQuotient(input.recentConsumed, observed, 1);
  const remaining = input.granted - input.consumed - input.held;
  const left = remaining > 0n ? hours(remaining) : 'no GPU-hours';
  return (
    `At the pace of the last ${describeSeconds(observed)} (about ${busyGpus} GPUs busy), ` +
    `${subjectName(subject)} will run out around ${formatSeoulDateTime(exhaustsAt)}, ` +
    `before its window ends ${formatSeoulDateTime(input.windowEnd)}: ${left} of ${hours(input.granted)} ` +
    `are left that running workloads do not already hold. ` +
    `Pace your runs, or ask the program for more GPU-hours before then.`
  );
}

/**
 * The burn-rate warning due now, if any: when the projection falls before the window end and the
 * grant is not yet fully consumed (past that point the 100% threshold alert has already said it).
 */
export function burnRateAlert(subject: AlertSubject, input: BurnRateInput): UsageAlert | null {
  const projection = projectExhaustion(input);
  if (!projection.beforeWindowEnd || projection.exhaustsAt === null || input.consumed >= input.granted) {
    return null;
  }
  return {
    key: burnRateAlertKey(subject.allocationId, input.now),
    kind: 'burn_rate',
    message: burnRateMessage(subject, input, projection.exhaustsAt),
  };
}
