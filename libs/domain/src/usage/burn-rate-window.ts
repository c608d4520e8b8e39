import { seoulDay, SEOUL_OFFSET_MS } from './day-split.js';

/** The pace is judged over this many whole Seoul days before today, plus today so far. */
export const BURN_RATE_LOOKBACK_DAYS = 7;
const DAY_MS = 86_400_000;

/** The look-back of a burn-rate sweep at `now`: the daily rollups of [firstDay, today]. */
export interface BurnRateLookback {
  firstDay: string;
  today: string;
  /** Seoul midnight opening `firstDay`, as a UTC instant (ms). */
  startMs: number;
  /** Whole seconds from that midnight to now: the window the recent usage was consumed in. */
  windowSeconds: number;
}

export function burnRateLookback(now: Date): BurnRateLookback {
  const today = seoulDay(now);
  const firstDay = seoulDay(now.getTime() - BURN_RATE_LOOKBACK_DAYS * DAY_MS);
  const startMs = Date.parse(`${firstDay}T00:00:00Z`) - SEOUL_OFFSET_MS;
  return { firstDay, today, startMs, windowSeconds: Math.floor((now.getTime() - startMs) / 1000) };
}

/**
 * The grant a projection uses: the allocation's net grant — remaining + held + consumed — so quota
 * already recalled or expired back to the program is not counted as still available.
 */
export function netGrantedGpuSeconds(balances: {
  remaining: bigint;
  held: bigint;
  consumed: bigint;
}): bigint {
  return balances.remaining + balances.held + balances.consumed;
}
