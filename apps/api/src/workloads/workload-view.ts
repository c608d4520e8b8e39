import { toAmount, type WorkloadState } from '#domain';
import type { WorkloadEntity } from '#persistence';
import type { PlacementPartResponse, WorkloadResponse } from './dto/workload.response.js';

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

/** `allowedActions`: what the caller may do with it (WorkloadQueries decides, by libs/domain's rule). */
export function workloadView(
  workload: WorkloadEntity,
  placement: readonly PlacementPartResponse[],
  allowedActions: readonly 'cancel'[],
): WorkloadResponse {
  return {
    id: workload.id,
    name: workload.name,
    allocationId: workload.allocationId,
    projectId: workload.projectId,
    programId: workload.programId,
    gpuModel: workload.gpuModel,
    gpus: workload.gpus,
    walltimeSeconds: workload.walltimeSeconds,
    priorityTier: workload.priorityTier,
    state: workload.state as WorkloadState,
    allowedActions: [...allowedActions],
    attempt: workload.attempt,
    batchId: workload.batchId,
    submittedBy: workload.submittedBy,
    simulatedRuntimeSeconds: workload.simulatedRuntimeSeconds,
    borrowed: workload.borrowed,
    placement: [...placement],
    held: toAmount(workload.heldGpuSeconds),
    consumed: toAmount(workload.consumedGpuSeconds),
    wait:
      workload.state === 'queued'
        ? {
            reason: workload.waitReason,
            detail: workload.waitDetail ?? 'Waiting for the next scheduling cycle.',
            position: workload.queuePosition,
            estimatedStartAt: iso(workload.estimatedStartAt),
          }
        : null,
    queuedAt: workload.queuedAt.toISOString(),
    admittedAt: iso(workload.admittedAt),
    dispatchedAt: iso(workload.dispatchedAt),
    startedAt: iso(workload.startedAt),
    endedAt: iso(workload.endedAt),
    endReason: workload.endReason,
    createdAt: workload.createdAt.toISOString(),
    updatedAt: workload.updatedAt.toISOString(),
  };
}
