import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Job, Worker } from 'bullmq';
import type { GpupoolConfig } from '#config';
import {
  JobProducer,
  QUEUE_NAMES,
  QueueTransport,
  SCHEDULER_JOB_NAMES,
  queueFor,
  type QueueName,
} from '#queues';
import type { Logger } from '../logger.js';
import { GPUPOOL_CONFIG, JOB_HANDLERS, SCHEDULER_LOGGER } from '../scheduler.tokens.js';
import type { JobHandlers } from './job-handlers.js';
import { handleJob } from './job-router.js';
import { periodicJobs } from './periodic-jobs.js';

/** Jobs a scheduler process runs at once, per queue. Cycles of different partitions run in parallel. */
const WORKER_CONCURRENCY: Record<QueueName, number> = {
  intake: 8,
  scheduling: 2,
  dispatch: 16,
  maintenance: 1,
  usage: 2,
  notifications: 8,
  'cluster-simulator': 1,
  exports: 1,
  // Planning is CPU-bound and serialized per GPU model by an advisory lock: one at a time per process.
  planning: 1,
};

/**
 * The BullMQ workers and periodic jobs of the scheduler. They start once the context is built and
 * close (finishing their active jobs) before the queue and database connections do.
 */
@Injectable()
export class SchedulerWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private workers: Worker[] = [];
  private watchdog?: NodeJS.Timeout;

  constructor(
    @Inject(GPUPOOL_CONFIG) private readonly config: GpupoolConfig,
    @Inject(SCHEDULER_LOGGER) private readonly logger: Logger,
    @Inject(JOB_HANDLERS) private readonly handlers: JobHandlers,
    @Inject(QueueTransport) private readonly transport: QueueTransport,
    @Inject(JobProducer) private readonly producer: JobProducer,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Only the queues this process has jobs for: cluster-simulator belongs to the simulator.
    const queues = QUEUE_NAMES.filter((name) => SCHEDULER_JOB_NAMES.some((job) => queueFor(job) === name));
    for (const queueName of queues) {
      const worker = this.transport.createWorker(queueName, (job: Job) => handleJob(this.handlers, job), {
        concurrency: WORKER_CONCURRENCY[queueName],
        lockDuration: this.config.WORKER_LOCK_DURATION_MS,
        stalledInterval: this.config.WORKER_STALLED_INTERVAL_MS,
      });
      worker.on('failed', (job, error) => {
        this.logger.warn(
          { jobId: job?.id, name: job?.name, attempts: job?.attemptsMade, err: error.message },
          'job failed',
        );
      });
      worker.on('error', (error) =>
        this.logger.error({ err: error.message, queue: queueName }, 'worker error'),
      );
      this.workers.push(worker);
    }

    await this.ensurePeriodicJobs();
    // A Redis flush also drops job schedulers: re-assert them so the sweep comes back by itself.
    this.watchdog = setInterval(() => {
      this.ensurePeriodicJobs().catch((error: unknown) =>
        this.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'could not assert periodic jobs',
        ),
      );
    }, this.config.RECONCILE_INTERVAL_MS);
    this.logger.info({ queues, backend: this.config.QUEUE_BACKEND }, 'gpupool scheduler started');
  }

  private async ensurePeriodicJobs(): Promise<void> {
    const maintenance = this.producer.queue('maintenance');
    const opts = { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } };
    for (const job of periodicJobs(this.config)) {
      await maintenance.upsertJobScheduler(
        job.id,
        { every: job.every },
        { name: job.name, data: job.data, opts },
      );
    }
  }

  /** Workers finish their active jobs; the connections close after (onApplicationShutdown). */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.allSettled(this.workers.map((worker) => worker.close()));
    this.workers = [];
  }
}
