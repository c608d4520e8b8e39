import { toAmount } from '#domain';
import type { WorkloadEntity, WorkloadHoldEntity } from '#persistence';
import type { WorkloadAttemptsResponse } from './dto/workload-attempts.response.js';

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

/** A workload's attempt history: an attempt before the current one was requeued. */
export function workloadAttemptsView(
  workload: WorkloadEntity,
  attempts: readonly WorkloadHoldEntity[],
): WorkloadAttemptsResponse {
  return {
    workloadId: workload.id,
    attempt: workload.attempt,
    infrastructureRequeues: workload.infrastructureRequeues,
    items: attempts.map((hold) => ({
      attempt: hold.attempt,
      outcome: hold.attempt < workload.attempt ? 'requeued' : workload.state,
      reason: hold.refundReason,
      refunded: hold.refundReason !== null,
      admittedAt: hold.admittedAt.toISOString(),
      startedAt: iso(hold.startedAt),
      endedAt: iso(hold.endedAt),
      held: toAmount(hold.heldGpuSeconds),
      stillHeld: toAmount(hold.remainingGpuSeconds),
      metered: toAmount(hold.meteredGpuSeconds),
      refundedAmount: toAmount(hold.refundedGpuSeconds),
    })),
  };
}
