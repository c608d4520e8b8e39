import {
  refundTransaction,
  releaseHoldTransaction,
  type LedgerTransaction,
} from '../ledger/ledger-transaction.js';

/** Usage of an ended attempt may arrive this long after its end; then what is still held is released. */
export const METERING_GRACE_MS = 60 * 60_000;

/** An attempt's hold as the ledger sees it when the attempt ends. */
export interface AttemptHoldFigures {
  allocationId: string;
  remainingGpuSeconds: bigint;
  meteredGpuSeconds: bigint;
  refundedGpuSeconds: bigint;
}

export interface AttemptEnd {
  workloadId: string;
  attempt: number;
  /** GPU-seconds the attempt's runtime explains (see usedGpuSeconds). */
  runtimeGpuSeconds: bigint;
  at: Date;
  /** Set when the infrastructure failed the attempt: what was metered for it is refunded. */
  refundReason: string | null;
}

/** How a hold closes: what it keeps for late usage, what it posts, and its new figures. */
export interface AttemptHoldClosing {
  /** Stays held until the attempt's usage records arrive or the grace passes. */
  awaitingGpuSeconds: bigint;
  /** The postings in the order they are written: the release, then the refund. */
  postings: LedgerTransaction[];
  releaseAfter: Date | null;
  refundedGpuSeconds: bigint;
}

/**
 * Closes an attempt's hold at its end. Consumption comes only from usage records (posted by the
 * usage pipeline, taken from this hold first). Here the part of the hold that the runtime does not
 * explain goes back to the allocation; the part it does (gpus × runtime − metered so far) stays held
 * until its usage records arrive, or until `METERING_GRACE_MS` has passed (the usage reconciler then
 * releases it). So a late meter never lets admission spend quota twice.
 *
 * With a `refundReason` (node down, preemption, a lost run) everything metered for the attempt so
 * far is refunded now, and the whole hold is released now too: the project is not charged for the
 * attempt, so nothing needs to wait for its meter. Later records of it are posted against the
 * allocation and refunded in the same posting (see planUsagePosting), which nets to zero.
 */
export function closeAttemptHold(hold: AttemptHoldFigures, end: AttemptEnd): AttemptHoldClosing {
  const unmetered = end.refundReason === null ? end.runtimeGpuSeconds - hold.meteredGpuSeconds : 0n;
  const awaiting =
    unmetered <= 0n ? 0n : unmetered < hold.remainingGpuSeconds ? unmetered : hold.remainingGpuSeconds;
  const release = hold.remainingGpuSeconds - awaiting;
  const toRefund = end.refundReason === null ? 0n : hold.meteredGpuSeconds - hold.refundedGpuSeconds;
  const postings: LedgerTransaction[] = [];
  if (release > 0n) {
    postings.push(
      releaseHoldTransaction({
        allocationId: hold.allocationId,
        workloadId: end.workloadId,
        attempt: end.attempt,
        gpuSeconds: release,
        stage: 'end',
      }),
    );
  }
  if (toRefund > 0n) {
    postings.push(
      refundTransaction({
        allocationId: hold.allocationId,
        refundId: `${end.workloadId}:${end.attempt}:end`,
        gpuSeconds: toRefund,
        reason: end.refundReason ?? undefined,
      }),
    );
  }
  return {
    awaitingGpuSeconds: awaiting,
    postings,
    releaseAfter: awaiting > 0n ? new Date(end.at.getTime() + METERING_GRACE_MS) : null,
    refundedGpuSeconds: hold.refundedGpuSeconds + toRefund,
  };
}
