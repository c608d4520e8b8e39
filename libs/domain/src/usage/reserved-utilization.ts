import { displayRatio } from '../planning/utilization.js';

const MS_PER_SECOND = 1000;

/** One server of a reservation and the span it is (or was) held, [startsAt, endsAt). */
export interface HeldServerSpan {
  nodeId: string;
  /** The node's GPUs (its pool's GPUs per node). */
  gpus: number;
  startsAt: Date;
  endsAt: Date;
}

/**
 * How much of a reserved allocation's server time so far was used, as exact integers:
 *
 *   usedGpuSeconds     = metered GPU-seconds on the allocation (its consumed ledger account)
 *   reservedGpuSeconds = Σ over its servers of GPUs × whole seconds held from the span's start to
 *                        min(span end, now) — while no server was released early this is
 *                        servers × GPUs per node × elapsed seconds of the window
 *   ratio              = used ÷ reserved rounded half up to 4 decimals (for display only; null while
 *                        nothing reserved has elapsed, e.g. before the window or while waitlisted)
 *
 * Use on shared nodes beyond the reservation counts as used too, so the ratio may exceed 1.
 */
export interface ReservedUtilization {
  usedGpuSeconds: bigint;
  reservedGpuSeconds: bigint;
  ratio: number | null;
}

/** Σ gpus × whole seconds of [start, min(end, now)) over the spans; 0 for spans not begun. */
export function reservedGpuSecondsUntil(spans: readonly HeldServerSpan[], now: Date): bigint {
  let total = 0n;
  for (const span of spans) {
    const until = Math.min(span.endsAt.getTime(), now.getTime());
    const seconds = Math.floor((until - span.startsAt.getTime()) / MS_PER_SECOND);
    if (seconds > 0) total += BigInt(span.gpus) * BigInt(seconds);
  }
  return total;
}

export function reservedUtilization(
  usedGpuSeconds: bigint,
  spans: readonly HeldServerSpan[],
  now: Date,
): ReservedUtilization {
  const reservedGpuSeconds = reservedGpuSecondsUntil(spans, now);
  return {
    usedGpuSeconds,
    reservedGpuSeconds,
    ratio: reservedGpuSeconds > 0n ? displayRatio(usedGpuSeconds, reservedGpuSeconds) : null,
  };
}
