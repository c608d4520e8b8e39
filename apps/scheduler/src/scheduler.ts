import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { GpupoolConfig } from '#config';
import { createDataSource } from '#persistence';
import { JobProducer, parseJob, QUEUE_NAMES, QueueTransport, type JobItem } from '#queues';
import { GrantService } from './grants/grant.service.js';
import { createLogger, type Logger } from './logger.js';
import { GrantReconciler } from './reconciler/grant-reconciler.service.js';
import { assertHandlers, type JobContext, type JobHandlers } from './workers/job-handlers.js';

const RECONCILE_SCHEDULER_ID = 'reconcile-grants';

/**
 * The scheduler process: BullMQ workers and periodic jobs, no HTTP server. Thin processors call
 * services that re-read PostgreSQL and write in one transaction.
 */
export class SchedulerProcess {
  private readonly logger: Logger;
  private dataSource?: DataSource;
  private transport?: QueueTransport;
  private producer?: JobProducer;
  private workers: Worker[] = [];
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly config: GpupoolConfig) {
    this.logger = createLogger(config, 'gpupool-scheduler');
  }

  async start(): Promise<void> {
    this.dataSource = createDataSource({
      url: this.config.DATABASE_URL,
      poolSize: this.config.DATABASE_POOL_SIZE,
      applicationName: 'gpupool-scheduler',
    });
    await this.dataSource.initialize();
    this.transport = new QueueTransport({
      backend: this.config.QUEUE_BACKEND,
      redisUrl: this.config.REDIS_URL,
      databaseUrl: this.config.DATABASE_URL,
      prefix: this.config.QUEUE_PREFIX,
    });
    this.producer = new JobProducer(this.transport);
    const grants = new GrantService(this.dataSource, this.config.FAULT_GRANT_DELAY_MS);
    const reconciler = new GrantReconciler(
      this.dataSource,
      this.producer,
      this.logger,
      this.config.RECONCILE_GRACE_MS,
    );

    const handlers: JobHandlers = {
      'grant.allocation': async (data, context) => {
        const result = await grants.grant(data.requestId, context.jobId);
        this.logger.info(
          { jobId: context.jobId, requestId: data.requestId, outcome: result.outcome },
          'grant job done',
        );
        return { outcome: result.outcome };
      },
      'reconcile.grants': () => reconciler.sweep(),
    };
    assertHandlers(handlers);

    for (const queueName of QUEUE_NAMES) {
      const worker = this.transport.createWorker(queueName, (job: Job) => this.dispatch(handlers, job), {
        concurrency: queueName === 'intake' ? 8 : 1,
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
    this.logger.info(
      { queues: QUEUE_NAMES, backend: this.config.QUEUE_BACKEND },
      'gpupool scheduler started',
    );
  }

  private async dispatch(handlers: JobHandlers, job: Job): Promise<unknown> {
    let item: JobItem;
    try {
      item = parseJob(job.name, job.data);
    } catch (error) {
      // A payload that breaks the contract will never succeed: do not retry it.
      throw new UnrecoverableError(
        `Invalid job ${job.name}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const context: JobContext = { jobId: job.id, attempt: job.attemptsMade + 1 };
    switch (item.name) {
      case 'grant.allocation':
        return handlers['grant.allocation'](item.data, context);
      case 'reconcile.grants':
        return handlers['reconcile.grants'](item.data, context);
    }
  }

  private async ensurePeriodicJobs(): Promise<void> {
    if (!this.producer) return;
    await this.producer.queue('maintenance').upsertJobScheduler(
      RECONCILE_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      {
        name: 'reconcile.grants',
        data: {},
        opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
      },
    );
  }

  /** Graceful stop: workers finish their active jobs, then connections close. */
  async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.allSettled(this.workers.map((worker) => worker.close()));
    await this.producer?.close();
    await this.transport?.close();
    await this.dataSource?.destroy();
    this.logger.info('gpupool scheduler stopped');
  }
}
