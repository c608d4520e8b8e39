import type { JobItem } from '#queues';
import type { StoppedAttempt } from '../workloads/stop-allocation-workloads.use-case.js';

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
