import type { DataSource } from 'typeorm';
import { SchedulerSettlementFiles } from '../../apps/scheduler/src/billing/settlement-files.js';
import {
  RunBillingExportUseCase,
  SweepBillingExportsUseCase,
  type BillingExportLogger,
  type BillingExportOptions,
} from '../../libs/application/src/index.js';
import {
  TypeormBillingExportRepository,
  TypeormBillingPeriodRepository,
} from '../../libs/persistence/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';

/** The scheduler's `billing.export` job over a test's data source, with its writers (as SchedulerModule binds it). */
export function billingExportJob(
  db: DataSource,
  logger: BillingExportLogger,
  options: Partial<BillingExportOptions> = {},
): RunBillingExportUseCase {
  return new RunBillingExportUseCase(
    new TypeormBillingExportRepository(db),
    new TypeormBillingPeriodRepository(db),
    new SchedulerSettlementFiles(),
    logger,
    options,
  );
}

/** The `reconcile.exports` sweep over a test's data source. */
export function billingExportSweep(db: DataSource, producer: JobProducer): SweepBillingExportsUseCase {
  return new SweepBillingExportsUseCase(new TypeormBillingExportRepository(db), producer);
}
