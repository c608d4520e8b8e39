import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { GpupoolConfig } from '#config';
import { runSchedulingCycle } from '#domain';
import {
  DispatchWorkloadUseCase,
  EndAttemptUseCase,
  EndLostRunsUseCase,
  StopAllocationWorkloadsUseCase,
  createPlanningUseCases,
  GrantAllocationUseCase,
} from '#application';
import {
  createDataSource,
  LedgerRepository,
  TypeormAttemptHoldRepository,
  TypeormGrantRepository,
  TypeormPartitionRepository,
  TypeormTransactionRunner,
  TypeormWorkloadPlacementRepository,
  TypeormWorkloadRepository,
} from '#persistence';
import {
  enqueueAfterCommit,
  JobProducer,
  parseJob,
  QUEUE_NAMES,
  QueueTransport,
  SCHEDULER_JOB_NAMES,
  queueFor,
  type JobItem,
  type QueueName,
} from '#queues';
import { SimulatorAdapter } from './adapters/simulator.adapter.js';
import { BillingExportService } from './billing/billing-export.service.js';
import { billingCloseJobs } from './billing/billing-close-wiring.js';
import { CycleService } from './cycle/cycle.service.js';
import { DispatchService } from './dispatch/dispatch.service.js';
import { createLogger, type Logger } from './logger.js';
import { usageUseCases } from './usage/usage-wiring.js';
import { WebhookDeliveryService } from './notifications/webhook-delivery.service.js';
import { WebhookReconciler } from './notifications/webhook-reconciler.service.js';
import { GrantReconciler } from './reconciler/grant-reconciler.service.js';
import { PlanningReconciler, WAITLIST_REPLAN_INTERVAL_MS } from './planning/planning-reconciler.service.js';
import { WorkloadReconciler } from './reconciler/workload-reconciler.js';
import { assertHandlers, type JobContext, type JobHandlers } from './workers/job-handlers.js';

const RECONCILE_SCHEDULER_ID = 'reconcile-grants';
const RECONCILE_WORKLOADS_SCHEDULER_ID = 'reconcile-workloads';
const RECONCILE_USAGE_SCHEDULER_ID = 'reconcile-usage';
const RECONCILE_WEBHOOKS_SCHEDULER_ID = 'reconcile-webhooks';
const RECONCILE_EXPORTS_SCHEDULER_ID = 'reconcile-exports';
const RECONCILE_CLOSES_SCHEDULER_ID = 'reconcile-closes';
const RECONCILE_PLANNING_SCHEDULER_ID = 'reconcile-planning';
const REPLAN_WAITLISTS_SCHEDULER_ID = 'replan-waitlists';

/** Queued workloads whose estimated start is computed each cycle (the rest show position only). */
export const SCHEDULER_ESTIMATE_LIMIT = 1000;
/** A dispatched attempt is declared lost this long after its walltime passed with no end report. */
export const LOST_RUN_GRACE_MS = 5 * 60_000;

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
    const grantRepository = new TypeormGrantRepository(this.dataSource);
    const grants = new GrantAllocationUseCase(
      new TypeormTransactionRunner(this.dataSource),
      grantRepository,
      new LedgerRepository(),
      this.config.FAULT_GRANT_DELAY_MS,
    );
    const reconciler = new GrantReconciler(
      grantRepository,
      this.producer,
      this.logger,
      this.config.RECONCILE_GRACE_MS,
    );

    // The workload use cases, wired by hand until the scheduler is a Nest application context.
    const transactions = new TypeormTransactionRunner(this.dataSource);
    const workloads = new TypeormWorkloadRepository(this.dataSource);
    const placements = new TypeormWorkloadPlacementRepository(this.dataSource);
    const partitions = new TypeormPartitionRepository(this.dataSource);
    const endAttempt = new EndAttemptUseCase(
      workloads,
      placements,
      new TypeormAttemptHoldRepository(),
      new LedgerRepository(),
      partitions,
    );
    const cycles = new CycleService(
      this.dataSource,
      this.producer,
      this.logger,
      runSchedulingCycle,
      {
        settings: {
          fairShareHalfLifeSeconds: this.config.FAIR_SHARE_HALF_LIFE_SECONDS,
          backfill: this.config.SCHEDULER_BACKFILL,
          preemption: this.config.SCHEDULER_PREEMPTION,
          estimateLimit: SCHEDULER_ESTIMATE_LIMIT,
          starvationAfterSeconds: this.config.SCHEDULER_STARVATION_SECONDS,
        },
      },
      endAttempt,
    );
    // Slurm and Kubernetes adapters join this list behind the same port (clusters.adapter picks).
    const dispatcher = new DispatchService(
      new DispatchWorkloadUseCase(workloads, placements, [new SimulatorAdapter(this.producer)]),
      this.logger,
    );
    const workloadReconciler = new WorkloadReconciler(
      workloads,
      partitions,
      new EndLostRunsUseCase(transactions, workloads, partitions, endAttempt),
      this.producer,
      this.logger,
      {
        intervalMs: this.config.RECONCILE_INTERVAL_MS,
        dispatchGraceMs: this.config.RECONCILE_GRACE_MS,
        lostGraceMs: LOST_RUN_GRACE_MS,
      },
    );
    const planningUseCases = createPlanningUseCases(this.dataSource, this.producer);
    const usage = usageUseCases(
      this.dataSource,
      this.producer,
      {
        unpostedGraceMs: this.config.RECONCILE_GRACE_MS,
        driftCheckIntervalMs: this.config.USAGE_DRIFT_CHECK_INTERVAL_MS,
        proposeRecalls: (now) => planningUseCases.proposeRecalls.execute(now),
      },
      new StopAllocationWorkloadsUseCase(transactions, workloads, partitions, endAttempt),
    );
    const webhooks = new WebhookDeliveryService(this.dataSource, this.logger);
    const webhookReconciler = new WebhookReconciler(this.dataSource, this.producer, this.logger);
    const billingExports = new BillingExportService(this.dataSource, this.producer, this.logger, {
      sweepGraceMs: this.config.RECONCILE_GRACE_MS,
    });

    const billingCloses = billingCloseJobs(this.dataSource, this.producer, this.config);
    const planning = planningUseCases.planning;
    const planningReconciler = new PlanningReconciler(
      planningUseCases.plans,
      planningUseCases.moves,
      this.producer,
      this.logger,
      this.config.RECONCILE_GRACE_MS,
    );
    const producer = this.producer;

    const handlers: JobHandlers = {
      'grant.allocation': async (data, context) => {
        const result = await grants.execute(data.requestId, context.jobId);
        this.logger.info(
          { jobId: context.jobId, requestId: data.requestId, outcome: result.outcome },
          'grant job done',
        );
        if (result.outcome === 'granted' && result.plannedAllocationIds.length > 0) {
          await enqueueAfterCommit(
            producer,
            result.plannedAllocationIds.map((allocationId) => ({
              name: 'planning.plan' as const,
              data: { allocationId },
            })),
            { logger: this.logger, recoveredBy: 'the planning reconciler (reservation_plans)' },
          );
        }
        return { outcome: result.outcome };
      },
      'reconcile.grants': () => reconciler.sweep(),
      'schedule.cycle': async (data, context) => {
        const result = await cycles.runCycle(data.gpuModel);
        this.logger.debug({ jobId: context.jobId, gpuModel: data.gpuModel, ...result }, 'cycle job done');
        return result;
      },
      'dispatch.workload': (data) => dispatcher.dispatch(data.workloadId, data.attempt),
      'dispatch.cancel': (data) => dispatcher.cancel(data.workloadId, data.attempt, data.reason),
      'reconcile.workloads': () => workloadReconciler.sweep(),
      'usage.post': (data) => usage.post.execute(data.batchId),
      'reconcile.usage': () => usage.sweep.execute(),
      'webhook.deliver': (data) => webhooks.deliver(data.deliveryId),
      'reconcile.webhooks': () => webhookReconciler.sweep(),
      'billing.export': (data, context) => billingExports.handle(data.exportId, context.attempt),
      'reconcile.exports': () => billingExports.sweep(),
      'billing.close': (data, context) => billingCloses.close(data.closeId, context.attempt),
      'reconcile.closes': () => billingCloses.sweep(),
      'planning.plan': (data, context) => planning.plan(data.allocationId, { jobId: context.jobId }),
      'planning.replan': (data, context) => planning.replan(data.gpuModel, { jobId: context.jobId }),
      'reconcile.planning': (data) => planningReconciler.sweep(data),
    };
    assertHandlers(handlers);

    // Only the queues this process has jobs for: cluster-simulator belongs to the simulator.
    const queues = QUEUE_NAMES.filter((name) => SCHEDULER_JOB_NAMES.some((job) => queueFor(job) === name));
    for (const queueName of queues) {
      const worker = this.transport.createWorker(queueName, (job: Job) => this.dispatch(handlers, job), {
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
      case 'schedule.cycle':
        return handlers['schedule.cycle'](item.data, context);
      case 'dispatch.workload':
        return handlers['dispatch.workload'](item.data, context);
      case 'dispatch.cancel':
        return handlers['dispatch.cancel'](item.data, context);
      case 'reconcile.workloads':
        return handlers['reconcile.workloads'](item.data, context);
      case 'usage.post':
        return handlers['usage.post'](item.data, context);
      case 'reconcile.usage':
        return handlers['reconcile.usage'](item.data, context);
      case 'webhook.deliver':
        return handlers['webhook.deliver'](item.data, context);
      case 'reconcile.webhooks':
        return handlers['reconcile.webhooks'](item.data, context);
      case 'billing.export':
        return handlers['billing.export'](item.data, context);
      case 'reconcile.exports':
        return handlers['reconcile.exports'](item.data, context);
      case 'billing.close':
        return handlers['billing.close'](item.data, context);
      case 'reconcile.closes':
        return handlers['reconcile.closes'](item.data, context);
      case 'planning.plan':
        return handlers['planning.plan'](item.data, context);
      case 'planning.replan':
        return handlers['planning.replan'](item.data, context);
      case 'reconcile.planning':
        return handlers['reconcile.planning'](item.data, context);
      case 'cluster.run':
      case 'cluster.cancel':
        throw new UnrecoverableError(`Job ${item.name} belongs to the simulated cluster, not the scheduler`);
    }
  }

  private async ensurePeriodicJobs(): Promise<void> {
    if (!this.producer) return;
    const maintenance = this.producer.queue('maintenance');
    const opts = { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } };
    await maintenance.upsertJobScheduler(
      RECONCILE_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.grants', data: {}, opts },
    );
    // The workload sweep is also the scheduler's periodic tick (see WorkloadReconciler).
    await maintenance.upsertJobScheduler(
      RECONCILE_WORKLOADS_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.workloads', data: {}, opts },
    );
    // Usage: batches Redis lost, holds never metered, ended windows, recalls, alerts, drift.
    await maintenance.upsertJobScheduler(
      RECONCILE_USAGE_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.usage', data: {}, opts },
    );
    // Webhook retries are due in PostgreSQL; this sweep sends them (and anything Redis lost).
    await maintenance.upsertJobScheduler(
      RECONCILE_WEBHOOKS_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.webhooks', data: {}, opts },
    );
    // Billing exports are an outbox too: one whose job Redis lost is enqueued again.
    await maintenance.upsertJobScheduler(
      RECONCILE_EXPORTS_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.exports', data: {}, opts },
    );
    // Billing closes too: a close whose job Redis lost is enqueued again.
    await maintenance.upsertJobScheduler(
      RECONCILE_CLOSES_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.closes', data: {}, opts },
    );
    // Planning is an outbox too: pending plans whose job Redis lost are enqueued again; and every
    // waitlist is re-planned now and then (offers move with time; capacity may have come back).
    await maintenance.upsertJobScheduler(
      RECONCILE_PLANNING_SCHEDULER_ID,
      { every: this.config.RECONCILE_INTERVAL_MS },
      { name: 'reconcile.planning', data: {}, opts },
    );
    await maintenance.upsertJobScheduler(
      REPLAN_WAITLISTS_SCHEDULER_ID,
      { every: Math.max(this.config.RECONCILE_INTERVAL_MS, WAITLIST_REPLAN_INTERVAL_MS) },
      { name: 'reconcile.planning', data: { waitlists: true }, opts },
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
