import { Injectable } from '@nestjs/common';
import { TransactionRunner, UsageMaintenanceRepository, type StoppedAttempt } from '#persistence';
import type { JobItem } from '#queues';

/**
 * Ends every admitted or running workload of an allocation (`cancelled`, with `reason`), one
 * partition at a time: each in its own transaction that takes the partition's advisory lock, then
 * the workload rows (FOR UPDATE, id order), as a cancellation does. Returns what the caller must
 * tell the clusters after commit. Redelivery is harmless: ended workloads are skipped.
 */
@Injectable()
export class StopAllocationWorkloadsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly maintenance: UsageMaintenanceRepository,
  ) {}

  async execute(allocationId: string, reason: string, at = new Date()): Promise<StoppedAttempt[]> {
    const stopped: StoppedAttempt[] = [];
    for (const gpuModel of await this.maintenance.activeWorkloadModels(allocationId)) {
      const ended = await this.transactions.run(async (tx) => {
        const done: StoppedAttempt[] = [];
        for (const workload of await this.maintenance.lockActiveWorkloads(tx, allocationId, gpuModel)) {
          if (await this.maintenance.cancelWorkload(tx, workload, reason, at)) {
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

/** The jobs that tell the clusters to stop `stopped` and their partitions to decide again. */
export function stopJobs(stopped: readonly StoppedAttempt[]): JobItem[] {
  const jobs: JobItem[] = stopped.map((attempt) => ({
    name: 'dispatch.cancel',
    data: { workloadId: attempt.workloadId, attempt: attempt.attempt, reason: attempt.reason.slice(0, 200) },
  }));
  for (const gpuModel of new Set(stopped.map((attempt) => attempt.gpuModel))) {
    jobs.push({ name: 'schedule.cycle', data: { gpuModel } });
  }
  return jobs;
}

/** `webhook.deliver` jobs for recorded deliveries (lost ones are sent by `reconcile.webhooks`). */
export function deliveryJobs(deliveryIds: readonly string[]): JobItem[] {
  return deliveryIds.map((deliveryId): JobItem => ({ name: 'webhook.deliver', data: { deliveryId } }));
}
