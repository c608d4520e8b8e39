import type { DataSource } from 'typeorm';
import {
  BurnRateAlertsUseCase,
  ExpireAllocationsUseCase,
  PostUsageBatchUseCase,
  ReconcileUsageUseCase,
  ReleaseStaleHoldsUseCase,
  StopAllocationWorkloadsUseCase,
  UsageSweepUseCase,
  type UsageSweepSettings,
} from '#application';
import {
  LedgerRepository,
  TypeormNotificationsRepository,
  TypeormAuditRepository,
  TypeormBurnRateRepository,
  TypeormTransactionRunner,
  TypeormUsageBatchRepository,
  TypeormUsageMaintenanceRepository,
  TypeormUsagePostingRepository,
  TypeormUsageReconciliationRepository,
} from '#persistence';
import type { JobProducer } from '#queues';

/**
 * The usage use cases the scheduler's `usage.post` and `reconcile.usage` handlers call, built by
 * hand until the scheduler is a Nest application context (then UsageApplicationModule.withSweep).
 */
export function usageUseCases(
  dataSource: DataSource,
  producer: JobProducer,
  settings: UsageSweepSettings,
  stop: StopAllocationWorkloadsUseCase,
): { post: PostUsageBatchUseCase; sweep: UsageSweepUseCase } {
  const transactions = new TypeormTransactionRunner(dataSource);
  const ledger = new LedgerRepository();
  const notifications = new TypeormNotificationsRepository();
  const maintenance = new TypeormUsageMaintenanceRepository(dataSource);
  const post = new PostUsageBatchUseCase(
    transactions,
    new TypeormUsagePostingRepository(),
    ledger,
    notifications,
    stop,
    producer,
  );
  const sweep = new UsageSweepUseCase(
    settings,
    new TypeormUsageBatchRepository(dataSource),
    new ReleaseStaleHoldsUseCase(transactions, maintenance, ledger),
    new ExpireAllocationsUseCase(transactions, maintenance, ledger, notifications),
    stop,
    new BurnRateAlertsUseCase(transactions, new TypeormBurnRateRepository(dataSource), ledger, notifications),
    new ReconcileUsageUseCase(
      transactions,
      new TypeormUsageReconciliationRepository(dataSource),
      new TypeormAuditRepository(dataSource),
    ),
    producer,
  );
  return { post, sweep };
}
