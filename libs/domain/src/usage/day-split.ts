import { meteredGpuSeconds } from './usage-record.js';

/**
 * Usage is rolled up by day and month in Asia/Seoul, where billing periods are calendar months.
 * Korea has kept UTC+9 without daylight saving since 1988, so a fixed offset is exact and needs no
 * time-zone database.
 */
export const SEOUL_OFFSET_MS = 9 * 3600 * 1000;
const SEOUL_OFFSET_SECONDS = 9 * 3600;
const SECONDS_PER_DAY = 86_400;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function seoulIso(instant: Date | number): string {
  const ms = typeof instant === 'number' ? instant : instant.getTime();
  return new Date(ms + SEOUL_OFFSET_MS).toISOString();
}

/** The Seoul calendar day of an instant, 'YYYY-MM-DD'. 2026-04-30T15:00:00Z → '2026-05-01'. */
export function seoulDay(instant: Date | number): string {
  return seoulIso(instant).slice(0, 10);
}

/** The Seoul calendar month of an instant, 'YYYY-MM': the billing period it belongs to. */
export function seoulMonth(instant: Date | number): string {
  return seoulIso(instant).slice(0, 7);
}

/** '2026-05-01 09:30 KST', for sentences people read. */
export function formatSeoulDateTime(instant: Date | number): string {
  const iso = seoulIso(instant);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} KST`;
}

/** '2026-05-01' → '2026-05'. */
export function monthOfDay(day: string): string {
  if (!DAY_PATTERN.test(day)) {
    throw new TypeError(`monthOfDay expects a day written YYYY-MM-DD, got "${day}"`);
  }
  return day.slice(0, 7);
}

export interface DailyUsage {
  /** Seoul calendar day, 'YYYY-MM-DD'. */
  day: string;
  gpuSeconds: bigint;
}

/**
 * Cuts metered usage at Seoul midnights. The metered interval is the whole seconds
 * [⌊start/1 s⌋, ⌊start/1 s⌋ + metered seconds): the billed seconds are laid from the second the
 * record started in, so the pieces add up exactly to meteredGpuSeconds and never to a rounding
 * remainder. Pieces come in day order; a record inside one day gives one piece.
 */
export function splitUsageByDay(gpus: number, startedAt: Date, endedAt: Date): DailyUsage[] {
  // meteredGpuSeconds also refuses a GPU count or an interval that a record may not have.
  const perGpu = BigInt(gpus);
  const seconds = meteredGpuSeconds(gpus, startedAt, endedAt) / perGpu;
  const firstSecond = Math.floor(startedAt.getTime() / 1000);
  const endSecond = firstSecond + Number(seconds);
  const pieces: DailyUsage[] = [];
  for (let from = firstSecond; from < endSecond;) {
    // The next Seoul midnight after `from`, in Unix seconds.
    const seoulDayIndex = Math.floor((from + SEOUL_OFFSET_SECONDS) / SECONDS_PER_DAY);
    const nextMidnight = (seoulDayIndex + 1) * SECONDS_PER_DAY - SEOUL_OFFSET_SECONDS;
    const to = Math.min(nextMidnight, endSecond);
    pieces.push({ day: seoulDay(from * 1000), gpuSeconds: perGpu * BigInt(to - from) });
    from = to;
  }
  return pieces;
}
