import { DomainError, type Principal } from '#domain';

/** Who asks, and the request id the audit trail records. */
export interface WorkloadActor {
  principal: Principal;
  requestId: string | null;
}

/** What a submission asks for (one workload, or each element of a sweep). */
export interface WorkloadSpec {
  allocationId: string;
  gpuModel: string;
  gpus: number;
  walltimeSeconds: number;
  name: string;
  priorityTier?: number | undefined;
  simulatedRuntimeSeconds?: number | undefined;
}

export const WORKLOAD_AUDIT_SUBJECT = 'workload';

/** Lost cycle and cancel jobs are recovered from PostgreSQL by this sweep. */
export const WORKLOAD_RECOVERY = 'the workload reconciler (reconcile.workloads)';

export function submitterOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError('forbidden', 'USER_REQUIRED', 'Workloads are submitted by signed-in users.');
  }
  return principal.userId;
}

export function actorName(principal: Principal): string {
  return principal.kind === 'user' ? principal.email : `API token ${principal.tokenId}`;
}
