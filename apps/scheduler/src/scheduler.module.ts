import {
  Global,
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { GpupoolConfig } from '#config';
import { runSchedulingCycle } from '#domain';
import {
  AccessModule,
  AllocationsApplicationModule,
  BillingApplicationModule,
  RunBillingExportUseCase,
  SweepBillingExportsUseCase,
  CLOSE_FAULT_DELAY_MS,
  CloseBillingPeriodUseCase,
  CLUSTER_ADAPTERS,
  DeliverWebhookUseCase,
  DispatchWorkloadUseCase,
  EndAttemptUseCase,
  EndLostRunsUseCase,
  GRANT_FAULT_DELAY_MS,
  GrantAllocationUseCase,
  PlanningApplicationModule,
  PlanReservationsUseCase,
  PostUsageBatchUseCase,
  SweepBillingClosesUseCase,
  SweepWebhooksUseCase,
  ProposeRecallsUseCase,
  RequestsApplicationModule,
  UsageApplicationModule,
  UsageSweepUseCase,
  WorkloadsApplicationModule,
  type UsageSweepSettings,
} from '#application';
import {
  BillingExportRepository,
  BillingPeriodRepository,
  dataSourceOptions,
  GrantRepository,
  LedgerRepository,
  PartitionRepository,
  PartitionSnapshotRepository,
  PersistenceModule,
  ReservationMovesRepository,
  ReservationPlansRepository,
  SchedulingCycleRepository,
  TransactionRunner,
  WebhookDeliveryRepository,
  WorkloadRepository,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, jobOptionsFor, QueueTransport } from '#queues';
import { SimulatorAdapter } from './adapters/simulator.adapter.js';
import { SchedulerSettlementFiles } from './billing/settlement-files.js';
import { CycleService } from './cycle/cycle.service.js';
import { DispatchService } from './dispatch/dispatch.service.js';
import { createLogger, type Logger } from './logger.js';
import { FetchWebhookSender } from './notifications/fetch-webhook-sender.js';
import { PlanningReconciler } from './planning/planning-reconciler.service.js';
import { GrantReconciler } from './reconciler/grant-reconciler.service.js';
import { WorkloadReconciler } from './reconciler/workload-reconciler.js';
import { assertHandlers, type JobHandlers } from './workers/job-handlers.js';
import { GPUPOOL_CONFIG, JOB_HANDLERS, SCHEDULER_LOGGER } from './scheduler.tokens.js';
import { SchedulerWorkers } from './workers/scheduler-workers.js';

/** Queued workloads whose estimated start is computed each cycle (the rest show position only). */
export const SCHEDULER_ESTIMATE_LIMIT = 1000;
/** A dispatched attempt is declared lost this long after its walltime passed with no end report. */
export const LOST_RUN_GRACE_MS = 5 * 60_000;
/** A close marks itself failed only on its job's last attempt (earlier failures are retried). */
const closeAttempts = jobOptionsFor({ name: 'billing.close', data: { closeId: '' } }).attempts;

/** Config, logger and the queues: what every provider of the scheduler may inject. */
@Global()
@Module({})
class SchedulerCoreModule implements OnApplicationShutdown {
  constructor(
    @Inject(JobProducer) private readonly producer: JobProducer,
    @Inject(QueueTransport) private readonly transport: QueueTransport,
  ) {}

  static forRoot(config: GpupoolConfig): DynamicModule {
    return {
      module: SchedulerCoreModule,
      providers: [
        { provide: GPUPOOL_CONFIG, useValue: config },
        { provide: SCHEDULER_LOGGER, useValue: createLogger(config, 'gpupool-scheduler') },
        { provide: GRANT_FAULT_DELAY_MS, useValue: config.FAULT_GRANT_DELAY_MS },
        { provide: CLOSE_FAULT_DELAY_MS, useValue: config.FAULT_CLOSE_DELAY_MS },
        {
          provide: QueueTransport,
          useFactory: () =>
            new QueueTransport({
              backend: config.QUEUE_BACKEND,
              redisUrl: config.REDIS_URL,
              databaseUrl: config.DATABASE_URL,
              prefix: config.QUEUE_PREFIX,
            }),
        },
        {
          provide: JobProducer,
          inject: [QueueTransport],
          useFactory: (transport: QueueTransport) => new JobProducer(transport),
        },
      ],
      exports: [
        GPUPOOL_CONFIG,
        SCHEDULER_LOGGER,
        GRANT_FAULT_DELAY_MS,
        CLOSE_FAULT_DELAY_MS,
        QueueTransport,
        JobProducer,
      ],
    };
  }

  /** After the workers closed (beforeApplicationShutdown): the queue connections. */
  async onApplicationShutdown(): Promise<void> {
    await this.producer.close();
    await this.transport.close();
  }
}

/**
 * The scheduler process as a Nest application context without HTTP (as twenty's queue-worker is):
 * the same TypeORM connection options as the API, the global PersistenceModule, the application
 * modules, and the scheduler's services, job handlers and BullMQ workers (SchedulerWorkers).
 */
@Module({})
export class SchedulerModule {
  static forRoot(config: GpupoolConfig): DynamicModule {
    return {
      module: SchedulerModule,
      imports: schedulerImports(config),
      providers: [
        ...persistenceProviders(),
        ...dispatchProviders(),
        ...grantProviders(config),
        ...cycleProviders(config),
        ...notificationProviders(config),
        ...billingProviders(),
        ...planningProviders(config),
        jobHandlersProvider(config),
        SchedulerWorkers,
      ],
    };
  }
}

/** The database connection, persistence, and the application modules whose use cases the jobs run. */
function schedulerImports(config: GpupoolConfig): NonNullable<DynamicModule['imports']> {
  const sweepSettings = {
    imports: [PlanningApplicationModule],
    inject: [ProposeRecallsUseCase],
    useFactory: (proposeRecalls: ProposeRecallsUseCase): UsageSweepSettings => ({
      unpostedGraceMs: config.RECONCILE_GRACE_MS,
      driftCheckIntervalMs: config.USAGE_DRIFT_CHECK_INTERVAL_MS,
      proposeRecalls: (now) => proposeRecalls.execute(now),
    }),
  };
  return [
    SchedulerCoreModule.forRoot(config),
    TypeOrmModule.forRoot({
      ...dataSourceOptions({
        url: config.DATABASE_URL,
        poolSize: config.DATABASE_POOL_SIZE,
        applicationName: 'gpupool-scheduler',
      }),
      autoLoadEntities: false,
    }),
    PersistenceModule,
    // Workloads' submission check needs ProjectAccess in the container (the scheduler does not submit).
    AccessModule,
    WorkloadsApplicationModule,
    AllocationsApplicationModule,
    UsageApplicationModule.withSweep(sweepSettings),
    PlanningApplicationModule,
    RequestsApplicationModule,
    BillingApplicationModule,
  ];
}

/** The SQL the cycle needs beyond the PersistenceModule. */
function persistenceProviders(): Provider[] {
  return [SchedulingCycleRepository, PartitionSnapshotRepository];
}

/** Cluster adapters and the dispatch of admitted workloads to them. */
function dispatchProviders(): Provider[] {
  return [
    // Slurm and Kubernetes adapters join this list behind the same port (clusters.adapter picks).
    {
      provide: CLUSTER_ADAPTERS,
      inject: [JobProducer],
      useFactory: (producer: JobProducer) => [new SimulatorAdapter(producer)],
    },
    DispatchWorkloadUseCase,
    {
      provide: DispatchService,
      inject: [DispatchWorkloadUseCase, SCHEDULER_LOGGER],
      useFactory: (dispatcher: DispatchWorkloadUseCase, logger: Logger) =>
        new DispatchService(dispatcher, logger),
    },
  ];
}

/** The sweep that re-enqueues stalled grants. */
function grantProviders(config: GpupoolConfig): Provider[] {
  return [
    {
      provide: GrantReconciler,
      inject: [GrantRepository, JobProducer, SCHEDULER_LOGGER],
      useFactory: (grants: GrantRepository, producer: JobProducer, logger: Logger) =>
        new GrantReconciler(grants, producer, logger, config.RECONCILE_GRACE_MS),
    },
  ];
}

/** The scheduling cycle and the reconciler of the workloads it admitted. */
function cycleProviders(config: GpupoolConfig): Provider[] {
  return [
    {
      provide: CycleService,
      inject: [
        TransactionRunner,
        SchedulingCycleRepository,
        PartitionSnapshotRepository,
        LedgerRepository,
        JobProducer,
        SCHEDULER_LOGGER,
        EndAttemptUseCase,
      ],
      useFactory: (
        transactions: TransactionRunner,
        rounds: SchedulingCycleRepository,
        snapshots: PartitionSnapshotRepository,
        ledger: LedgerRepository,
        producer: JobProducer,
        logger: Logger,
        endAttempt: EndAttemptUseCase,
      ) =>
        new CycleService(
          transactions,
          rounds,
          snapshots,
          ledger,
          producer,
          logger,
          runSchedulingCycle,
          {
            settings: {
              fairShareHalfLifeSeconds: config.FAIR_SHARE_HALF_LIFE_SECONDS,
              backfill: config.SCHEDULER_BACKFILL,
              preemption: config.SCHEDULER_PREEMPTION,
              estimateLimit: SCHEDULER_ESTIMATE_LIMIT,
              starvationAfterSeconds: config.SCHEDULER_STARVATION_SECONDS,
            },
          },
          endAttempt,
        ),
    },
    {
      provide: WorkloadReconciler,
      inject: [WorkloadRepository, PartitionRepository, EndLostRunsUseCase, JobProducer, SCHEDULER_LOGGER],
      useFactory: (
        workloads: WorkloadRepository,
        partitions: PartitionRepository,
        lostRuns: EndLostRunsUseCase,
        producer: JobProducer,
        logger: Logger,
      ) =>
        new WorkloadReconciler(workloads, partitions, lostRuns, producer, logger, {
          intervalMs: config.RECONCILE_INTERVAL_MS,
          dispatchGraceMs: config.RECONCILE_GRACE_MS,
          lostGraceMs: LOST_RUN_GRACE_MS,
          heartbeatTimeoutMs: config.AGENT_HEARTBEAT_TIMEOUT_MS,
        }),
    },
  ];
}

/** Webhook delivery over fetch, and its sweep (both log to the scheduler's logger). */
function notificationProviders(config: GpupoolConfig): Provider[] {
  return [
    {
      provide: DeliverWebhookUseCase,
      inject: [TransactionRunner, WebhookDeliveryRepository, SCHEDULER_LOGGER],
      useFactory: (transactions: TransactionRunner, deliveries: WebhookDeliveryRepository, logger: Logger) =>
        new DeliverWebhookUseCase(
          transactions,
          deliveries,
          new FetchWebhookSender({ allowLoopbackHttp: config.WEBHOOK_ALLOW_LOOPBACK_HTTP }),
          logger,
        ),
    },
    {
      provide: SweepWebhooksUseCase,
      inject: [WebhookDeliveryRepository, JobProducer, SCHEDULER_LOGGER],
      useFactory: (deliveries: WebhookDeliveryRepository, producer: JobProducer, logger: Logger) =>
        new SweepWebhooksUseCase(deliveries, producer, logger),
    },
  ];
}

/** The billing export job over the scheduler's file writers (the close and the sweeps are BillingApplicationModule's). */
function billingProviders(): Provider[] {
  return [
    {
      provide: RunBillingExportUseCase,
      inject: [BillingExportRepository, BillingPeriodRepository, SCHEDULER_LOGGER],
      useFactory: (exports: BillingExportRepository, periods: BillingPeriodRepository, logger: Logger) =>
        new RunBillingExportUseCase(exports, periods, new SchedulerSettlementFiles(), logger),
    },
  ];
}

/** The reconciler of reservation plans (planning itself is PlanningApplicationModule's). */
function planningProviders(config: GpupoolConfig): Provider[] {
  return [
    {
      provide: PlanningReconciler,
      inject: [ReservationPlansRepository, ReservationMovesRepository, JobProducer, SCHEDULER_LOGGER],
      useFactory: (
        plans: ReservationPlansRepository,
        moves: ReservationMovesRepository,
        producer: JobProducer,
        logger: Logger,
      ) => new PlanningReconciler(plans, moves, producer, logger, config.RECONCILE_GRACE_MS),
    },
  ];
}

/** The job router's table: one handler per job name (assertHandlers fails startup on a gap). */
function jobHandlersProvider(config: GpupoolConfig): Provider {
  return {
    provide: JOB_HANDLERS,
    inject: [
      GrantAllocationUseCase,
      GrantReconciler,
      CycleService,
      DispatchService,
      WorkloadReconciler,
      PostUsageBatchUseCase,
      UsageSweepUseCase,
      DeliverWebhookUseCase,
      SweepWebhooksUseCase,
      RunBillingExportUseCase,
      SweepBillingExportsUseCase,
      CloseBillingPeriodUseCase,
      SweepBillingClosesUseCase,
      PlanReservationsUseCase,
      PlanningReconciler,
      JobProducer,
      SCHEDULER_LOGGER,
    ],
    useFactory: (
      grants: GrantAllocationUseCase,
      grantReconciler: GrantReconciler,
      cycles: CycleService,
      dispatcher: DispatchService,
      workloadReconciler: WorkloadReconciler,
      usagePost: PostUsageBatchUseCase,
      usageSweep: UsageSweepUseCase,
      webhooks: DeliverWebhookUseCase,
      webhookSweep: SweepWebhooksUseCase,
      billingExports: RunBillingExportUseCase,
      billingExportSweep: SweepBillingExportsUseCase,
      billingClose: CloseBillingPeriodUseCase,
      billingCloseSweep: SweepBillingClosesUseCase,
      planning: PlanReservationsUseCase,
      planningReconciler: PlanningReconciler,
      producer: JobProducer,
      logger: Logger,
    ): JobHandlers => {
      const handlers: JobHandlers = {
        'grant.allocation': async (data, context) => {
          const result = await grants.execute(data.requestId, context.jobId);
          logger.info(
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
              { logger, recoveredBy: 'the planning reconciler (reservation_plans)' },
            );
          }
          return { outcome: result.outcome };
        },
        'reconcile.grants': () => grantReconciler.sweep(),
        'schedule.cycle': async (data, context) => {
          const result = await cycles.runCycle(data.gpuModel);
          logger.debug({ jobId: context.jobId, gpuModel: data.gpuModel, ...result }, 'cycle job done');
          return result;
        },
        'dispatch.workload': (data) => dispatcher.dispatch(data.workloadId, data.attempt),
        'dispatch.cancel': (data) => dispatcher.cancel(data.workloadId, data.attempt, data.reason),
        'reconcile.workloads': () => workloadReconciler.sweep(),
        'usage.post': (data) => usagePost.execute(data.batchId),
        'reconcile.usage': () => usageSweep.execute(),
        'webhook.deliver': (data) => webhooks.execute(data.deliveryId),
        'reconcile.webhooks': () => webhookSweep.execute(),
        'billing.export': (data, context) => billingExports.execute(data.exportId, context.attempt),
        'reconcile.exports': async () => {
          const swept = await billingExportSweep.execute(config.RECONCILE_GRACE_MS);
          if (swept.requeued > 0)
            logger.info({ requeued: swept.requeued }, 'billing export sweep re-enqueued exports');
          return swept;
        },
        'billing.close': (data, context) =>
          billingClose.execute(data.closeId, { lastAttempt: context.attempt >= closeAttempts }),
        'reconcile.closes': () => billingCloseSweep.execute(config.RECONCILE_GRACE_MS),
        'planning.plan': (data, context) => planning.plan(data.allocationId, { jobId: context.jobId }),
        'planning.replan': (data, context) => planning.replan(data.gpuModel, { jobId: context.jobId }),
        'reconcile.planning': (data) => planningReconciler.sweep(data),
      };
      assertHandlers(handlers);
      return handlers;
    },
  };
}
