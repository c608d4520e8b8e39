import { Injectable, Logger } from '@nestjs/common';
import { JobProducer, type JobItem } from '#queues';

/**
 * Jobs enqueued after a workload change commits. Losing one is harmless: the change marked its
 * partition dirty in PostgreSQL, and the scheduler's reconciler runs dirty partitions; a lost
 * cancel leaves a simulated run whose end report is then a no-op.
 */
@Injectable()
export class WorkloadJobs {
  private readonly logger = new Logger(WorkloadJobs.name);

  constructor(private readonly jobs: JobProducer) {}

  async afterCommit(items: JobItem[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.jobs.enqueueMany(items);
    } catch (error: unknown) {
      this.logger.warn(
        {
          jobs: items.map((item) => item.name),
          err: error instanceof Error ? { message: error.message } : error,
        },
        'enqueue after commit failed; the scheduler reconciler picks the change up from PostgreSQL',
      );
    }
  }

  scheduleCycle(gpuModel: string): Promise<void> {
    return this.afterCommit([{ name: 'schedule.cycle', data: { gpuModel } }]);
  }
}
