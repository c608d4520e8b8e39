import { Injectable } from '@nestjs/common';
import { isLostRun, lostRunSeconds } from '#domain';
import { PartitionRepository, TransactionRunner, WorkloadRepository } from '#persistence';
import { EndAttemptUseCase } from './end-attempt.use-case.js';
import type { StoppedAttempt } from './stop-allocation-workloads.use-case.js';

/** Lost runs end with this reason (their usage refunded: the infrastructure lost them). */
export const LOST_RUN_REASON = 'lost: no end report within walltime';

/**
 * Ends, as failed, dispatched attempts whose walltime passed long ago with no end report (the
 * cluster or its agent died): their GPUs and hold come back. One READ COMMITTED transaction per
 * partition; the caller tells the clusters to stop what this returns (dispatch.cancel).
 *
 * Locks per partition, in order: the partition advisory lock, then (the candidates re-read under it,
 * without a row lock, as before) for each what EndAttemptUseCase.endWorkload takes.
 */
@Injectable()
export class EndLostRunsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly endAttempt: EndAttemptUseCase,
  ) {}

  /** The attempts ended, per partition in the order they were swept. */
  async execute(options: { graceMs: number; limit: number }): Promise<Map<string, StoppedAttempt[]>> {
    const candidates = await this.workloads.overdueAttempts(options.graceMs, options.limit);
    const byModel = new Map<string, string[]>();
    for (const row of candidates) byModel.set(row.gpuModel, [...(byModel.get(row.gpuModel) ?? []), row.id]);

    const ended = new Map<string, StoppedAttempt[]>();
    for (const [gpuModel, ids] of byModel) {
      const done = await this.transactions.run(
        async (tx) => {
          await this.partitions.lock(tx, gpuModel);
          const at = await this.workloads.databaseNow(tx);
          // Re-read under the lock: an end report may have landed since the candidates were read.
          const lost = (await this.workloads.lockByIds(tx, ids)).filter((workload) =>
            isLostRun(workload, at, options.graceMs),
          );
          await this.endAttempt.lockQuotas(tx, lost);
          const stopped: StoppedAttempt[] = [];
          for (const workload of lost) {
            // Whatever the cluster meters for it is refunded: the run was lost by the infrastructure.
            // The hold covering the time it may have run (never beyond its walltime) waits for that meter.
            const changed = await this.endAttempt.endWorkload(tx, workload, {
              state: 'failed',
              reason: LOST_RUN_REASON,
              runtimeSeconds: lostRunSeconds(workload, at),
              at,
              refundReason: LOST_RUN_REASON,
            });
            if (changed) {
              stopped.push({
                workloadId: workload.id,
                attempt: workload.attempt,
                gpuModel,
                reason: LOST_RUN_REASON,
              });
            }
          }
          return stopped;
        },
        { isolation: 'READ COMMITTED' },
      );
      ended.set(gpuModel, done);
    }
    return ended;
  }
}
