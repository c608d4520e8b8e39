import { Injectable } from '@nestjs/common';
import { PartitionRepository, TransactionRunner, WorkloadRepository } from '#persistence';
import { EndAttemptUseCase } from './end-attempt.use-case.js';

/** An attempt some maintenance ended: the cluster must be told to stop it. */
export interface StoppedAttempt {
  workloadId: string;
  attempt: number;
  gpuModel: string;
  reason: string;
  /** After an infrastructure failure: whether the workload went back to the queue or failed. */
  outcome?: 'requeued' | 'failed';
}

/**
 * Ends every admitted or running workload of an allocation (`cancelled`, with `reason`), one
 * partition at a time in its own transaction, as a cancellation does. Returns what the caller must
 * tell the clusters (dispatch.cancel) after commit. Redelivery is harmless: ended workloads are
 * skipped.
 *
 * Locks per partition, in order: the partition advisory lock, the allocation's active workload rows
 * on it (FOR UPDATE, in id order), then for each what EndAttemptUseCase.endWorkload takes.
 */
@Injectable()
export class StopAllocationWorkloadsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly endAttempt: EndAttemptUseCase,
  ) {}

  async execute(allocationId: string, reason: string): Promise<StoppedAttempt[]> {
    const models = await this.workloads.modelsWithActiveWorkloads(allocationId);
    const stopped: StoppedAttempt[] = [];
    const at = new Date();
    for (const gpuModel of models) {
      const ended = await this.transactions.run(async (tx) => {
        await this.partitions.lock(tx, gpuModel);
        const workloads = await this.workloads.lockActiveOfAllocation(tx, allocationId, gpuModel);
        const done: StoppedAttempt[] = [];
        for (const workload of workloads) {
          const end = { state: 'cancelled', reason, runtimeSeconds: null, at } as const;
          if (await this.endAttempt.endWorkload(tx, workload, end)) {
            done.push({ workloadId: workload.id, attempt: workload.attempt, gpuModel, reason });
          }
        }
        return done;
      });
      stopped.push(...ended);
    }
    return stopped;
  }
}
