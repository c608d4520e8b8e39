import { createHash } from 'node:crypto';

/** A delivery that failed this many attempts is given up ('failed'). */
export const WEBHOOK_MAX_ATTEMPTS = 8;
export const WEBHOOK_BASE_DELAY_MS = 2_000;
export const WEBHOOK_MAX_DELAY_MS = 60 * 60_000;
/** Jitter spreads retries of one receiver's many deliveries so they do not land all at once. */
export const WEBHOOK_JITTER = 0.1;

/**
 * How long to wait after the `attempts`-th failed attempt (1-based) before the next one:
 * min(1 h, 2 s × 2^(attempts − 1)), then ±10% jitter derived from `jitterKey` (the delivery id), so
 * the schedule is deterministic for a delivery and the same in every process.
 */
export function webhookRetryDelayMs(attempts: number, jitterKey?: string): number {
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new RangeError(`attempts must be ≥ 1, got ${attempts}`);
  const base = Math.min(WEBHOOK_MAX_DELAY_MS, WEBHOOK_BASE_DELAY_MS * 2 ** Math.min(attempts - 1, 30));
  if (jitterKey === undefined) return base;
  const unit = createHash('sha256').update(`${jitterKey}:${attempts}`).digest().readUInt32BE(0) / 0xffffffff;
  return Math.round(base * (1 + WEBHOOK_JITTER * (2 * unit - 1)));
}

export type AttemptVerdict =
  { status: 'delivered' } | { status: 'pending'; retryInMs: number } | { status: 'failed' };

/** What a delivery becomes after its `attempts`-th attempt (1-based) answered `succeeded`. */
export function verdictAfterAttempt(
  attempts: number,
  succeeded: boolean,
  jitterKey?: string,
): AttemptVerdict {
  if (succeeded) return { status: 'delivered' };
  if (attempts >= WEBHOOK_MAX_ATTEMPTS) return { status: 'failed' };
  return { status: 'pending', retryInMs: webhookRetryDelayMs(attempts, jitterKey) };
}
