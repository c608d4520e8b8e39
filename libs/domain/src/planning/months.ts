import { invalid } from '../errors/domain-error.js';
import type { PlanningMonth } from './types.js';

/** Korea keeps UTC+9 with no daylight saving (since 1988), so Seoul midnights are exact. */
const SEOUL_OFFSET_SECONDS = 9 * 3600;
const MONTH_KEY = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Seoul midnight of the 1st of `month` (1–12, may overflow into later years), in Unix seconds. */
function seoulMonthStart(year: number, month: number): number {
  return Date.UTC(year, month - 1, 1) / 1000 - SEOUL_OFFSET_SECONDS;
}

/**
 * `count` consecutive Asia/Seoul calendar months from `firstMonth` ('YYYY-MM'), each
 * [Seoul midnight of the 1st, Seoul midnight of the next 1st) in Unix seconds.
 * seoulPlanningMonths('2026-01', 1) → [{ key: '2026-01', start: 1767193200, end: 1769871600 }].
 */
export function seoulPlanningMonths(firstMonth: string, count: number): PlanningMonth[] {
  const match = MONTH_KEY.exec(firstMonth);
  if (!match) {
    throw invalid(
      'PLANNING_MONTH_INVALID',
      `A planning month is written YYYY-MM, such as 2026-05; got "${firstMonth}".`,
    );
  }
  if (!Number.isSafeInteger(count) || count < 1) {
    throw invalid('PLANNING_MONTH_COUNT_INVALID', `Plan at least one whole month; got ${count}.`);
  }
  const year = Number(match[1]);
  const month = Number(match[2]);
  const months: PlanningMonth[] = [];
  for (let i = 0; i < count; i += 1) {
    const y = year + Math.floor((month - 1 + i) / 12);
    const m = ((month - 1 + i) % 12) + 1;
    months.push({
      key: `${y}-${String(m).padStart(2, '0')}`,
      start: seoulMonthStart(y, m),
      end: seoulMonthStart(y, m + 1),
    });
  }
  return months;
}

/** Seoul midnight starting the given day ('YYYY-MM-DD'), in Unix seconds. */
export function seoulMidnight(day: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const seconds = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 1000 : NaN;
  if (!match || Number.isNaN(seconds) || new Date(seconds * 1000).toISOString().slice(0, 10) !== day) {
    throw invalid('PLANNING_DAY_INVALID', `A day is written YYYY-MM-DD, such as 2026-05-01; got "${day}".`);
  }
  return seconds - SEOUL_OFFSET_SECONDS;
}

/** Index of the month containing `instant` (months sorted and contiguous), or -1 outside them. */
export function monthIndexAt(months: readonly PlanningMonth[], instant: number): number {
  if (months.length === 0 || instant < months[0].start || instant >= months[months.length - 1].end) return -1;
  let low = 0;
  let high = months.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (months[mid].start <= instant) low = mid;
    else high = mid - 1;
  }
  return low;
}
