import type { DataSource } from 'typeorm';
import {
  TypeormAuditRepository,
  LedgerRepository,
  TypeormNotificationsRepository,
  TypeormBurnRateRepository,
  TypeormTransactionRunner,
  TypeormUsageBatchRepository,
  TypeormUsageMaintenanceRepository,
  TypeormUsagePostingRepository,
  TypeormUsageReconciliationRepository,
} from '../../libs/persistence/src/index.js';
import {
  BurnRateAlertsUseCase,
  ExpireAllocationsUseCase,
  IngestUsageBatchUseCase,
  PostUsageBatchUseCase,
  ReconcileUsageUseCase,
  ReleaseStaleHoldsUseCase,
  UsageSweepUseCase,
  type UsageSweepSettings,
} from '../../libs/application/src/index.js';
import type { StoredUsageRecord } from '../../libs/domain/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { workloadUseCases } from './workload-use-cases.js';

/** A producer for use cases whose jobs a test does not look at. */
const NO_JOBS = {
  enqueue: () => Promise.resolve(),
  enqueueMany: () => Promise.resolve(),
} as unknown as JobProducer;

/**
 * The usage use cases wired to the real repositories on `dataSource`, as both processes wire them
 * (for tests that drive the pipeline without the API or the scheduler).
 */
export function usagePipeline(
  dataSource: DataSource,
  producer: JobProducer = NO_JOBS,
  settings: UsageSweepSettings = { unpostedGraceMs: 1000, driftCheckIntervalMs: 3_600_000 },
) {
  const transactions = new TypeormTransactionRunner(dataSource);
  const ledger = new LedgerRepository();
  const notifications = new TypeormNotificationsRepository();
  const batches = new TypeormUsageBatchRepository(dataSource);
  const maintenance = new TypeormUsageMaintenanceRepository(dataSource);
  const stop = workloadUseCases(dataSource).stopAllocationWorkloads;
  const ingest = new IngestUsageBatchUseCase(transactions, batches, producer);
  const post = new PostUsageBatchUseCase(
    transactions,
    new TypeormUsagePostingRepository(),
    ledger,
    notifications,
    stop,
    producer,
  );
  const releaseStaleHolds = new ReleaseStaleHoldsUseCase(transactions, maintenance, ledger);
  const expireAllocations = new ExpireAllocationsUseCase(transactions, maintenance, ledger, notifications);
  const burnRateAlerts = new BurnRateAlertsUseCase(
    transactions,
    new TypeormBurnRateRepository(dataSource),
    ledger,
    notifications,
  );
  const reconcile = new ReconcileUsageUseCase(
    transactions,
    new TypeormUsageReconciliationRepository(dataSource),
    new TypeormAuditRepository(dataSource),
  );
  const sweep = new UsageSweepUseCase(
    settings,
    batches,
    releaseStaleHolds,
    expireAllocations,
    stop,
    burnRateAlerts,
    reconcile,
    producer,
  );
  return { ingest, post, releaseStaleHolds, expireAllocations, burnRateAlerts, reconcile, sweep, stop };
}

/** Stores validated records as one batch (IngestUsageBatchUseCase.store): what the API does after validation. */
export function storeUsageBatch(
  dataSource: DataSource,
  tokenId: string | null,
  records: StoredUsageRecord[],
) {
  return usagePipeline(dataSource).ingest.store(tokenId, records);
}

/** The posting transaction of one batch (PostUsageBatchUseCase.post), without the jobs after it. */
export function postUsageBatch(dataSource: DataSource, batchId: string) {
  return usagePipeline(dataSource).post.post(batchId);
}

export function releaseStaleHolds(dataSource: DataSource, now: Date, limit?: number) {
  return usagePipeline(dataSource).releaseStaleHolds.execute(now, limit);
}

export function expireAllocations(dataSource: DataSource, now: Date) {
  return usagePipeline(dataSource).expireAllocations.execute(now);
}

export function reconcileUsageAndBalances(dataSource: DataSource) {
  return usagePipeline(dataSource).reconcile.execute();
}

export function burnRateAlerts(dataSource: DataSource, now: Date) {
  return usagePipeline(dataSource).burnRateAlerts.execute(now);
}
