import { Injectable, Logger } from '@nestjs/common';
import { JobProducer, type JobItem } from '#queues';

/**
 * Jobs the pool enqueues after its transactions commit: a scheduling cycle per GPU model whose
 * capacity changed, a cancel per workload a failed node ended. A failed enqueue is logged and
 * nothing more: the change is committed and the partition marked dirty in PostgreSQL, so the
 * scheduler's reconciler finds it (dirty partitions, ended workloads) without this job.
 */
@Injectable()
export class PoolJobs {
  private readonly logger = new Logger(PoolJobs.name);

  constructor(private readonly jobs: JobProducer) {}

  async afterCommit(jobs: JobItem[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.jobs.enqueueMany(jobs);
    } catch (error: unknown) {
      this.logger.warn(
        {
          jobs: jobs.map((job) => ({ name: job.name, data: job.data })),
          err: error instanceof Error ? { message: error.message, stack: error.stack } : error,
        },
        'pool jobs enqueue failed; the reconciler recovers them from PostgreSQL',
      );
    }
  }
}

/**
 * After a capacity change of these models: a scheduling cycle each, and a re-plan of each model's
 * reservation waitlist (new or returning nodes may let a waitlisted reserved line in; a lost node
 * moves the earliest start offered).
 */
export function cycleJobs(gpuModels: Iterable<string>): JobItem[] {
  const models = [...new Set(gpuModels)].sort();
  return [
    ...models.map((gpuModel): JobItem => ({ name: 'schedule.cycle', data: { gpuModel } })),
    ...models.map((gpuModel): JobItem => ({ name: 'planning.replan', data: { gpuModel } })),
  ];
}
