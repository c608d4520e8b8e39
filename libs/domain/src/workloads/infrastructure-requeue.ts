/** A program's requeue limit when it sets none; Slurm requeues a job a node failure killed, too. */
export const DEFAULT_INFRASTRUCTURE_REQUEUE_LIMIT = 3;
/** The most requeues per workload a program may allow (a broken node pool must not loop forever). */
export const MAX_INFRASTRUCTURE_REQUEUE_LIMIT = 20;

export type InfrastructureFailureOutcome =
  { action: 'requeue'; reason: string } | { action: 'fail'; reason: string };

/**
 * What an infrastructure failure (a node down, a run the cluster lost) does to a workload: it goes
 * back to the queue as its next attempt, keeping its age, with the failed attempt refunded, while
 * its program's limit allows; then it ends failed, and the reason says why it was not requeued.
 */
export function afterInfrastructureFailure(
  requeuesSoFar: number,
  limit: number,
  reason: string,
): InfrastructureFailureOutcome {
  if (requeuesSoFar < limit) {
    return { action: 'requeue', reason: `${reason} (requeued, ${requeuesSoFar + 1} of at most ${limit})` };
  }
  return {
    action: 'fail',
    reason:
      limit === 0
        ? `${reason} (not requeued: the program does not requeue workloads)`
        : `${reason} (not requeued: already requeued ${requeuesSoFar} times, the program's limit)`,
  };
}
