import { Module, type DynamicModule, type FactoryProvider, type ModuleMetadata } from '@nestjs/common';
import {
  TypeormUsageBatchRepository,
  TypeormUsageMaintenanceRepository,
  TypeormUsagePostingRepository,
  TypeormUsageReconciliationRepository,
  UsageBatchRepository,
  UsageMaintenanceRepository,
  UsagePostingRepository,
  UsageReconciliationRepository,
  TypeormUsageReportRepository,
  UsageReportRepository,
} from '#persistence';
import { AllocationsApplicationModule } from '../allocations/allocations.module.js';
import { IngestUsageBatchUseCase } from './ingest-usage-batch.use-case.js';
import { PostUsageBatchUseCase } from './post-usage-batch.use-case.js';
import { ReconcileUsageUseCase } from './reconcile-usage.use-case.js';
import { ExpireAllocationsUseCase, ReleaseStaleHoldsUseCase } from './usage-maintenance.use-case.js';
import { UsageBatchQueries } from './usage-batch.queries.js';
import { UsageReportQueries } from './usage-report.queries.js';
import { UsageSweepSettings, UsageSweepUseCase } from './usage-sweep.use-case.js';

const USE_CASES = [
  IngestUsageBatchUseCase,
  PostUsageBatchUseCase,
  ReconcileUsageUseCase,
  ReleaseStaleHoldsUseCase,
  ExpireAllocationsUseCase,
  UsageBatchQueries,
  UsageReportQueries,
];

/**
 * Usage metering: ingest and posting of batches, the usage reports, the maintenance sweeps and the reconciler (needs
 * PersistenceModule and a JobProducer in the container). The scheduler imports `withSweep(settings)`,
 * which adds the `reconcile.usage` sweep.
 */
@Module({
  imports: [AllocationsApplicationModule],
  providers: [
    { provide: UsageBatchRepository, useClass: TypeormUsageBatchRepository },
    { provide: UsagePostingRepository, useClass: TypeormUsagePostingRepository },
    { provide: UsageMaintenanceRepository, useClass: TypeormUsageMaintenanceRepository },
    { provide: UsageReconciliationRepository, useClass: TypeormUsageReconciliationRepository },
    { provide: UsageReportRepository, useClass: TypeormUsageReportRepository },
    ...USE_CASES,
  ],
  exports: USE_CASES,
})
export class UsageApplicationModule {
  /** `settings` as a value, or built by a factory (with what it injects, e.g. the recall proposals). */
  static withSweep(settings: UsageSweepSettings | UsageSweepSettingsFactory): DynamicModule {
    const factory = 'useFactory' in settings ? settings : undefined;
    return {
      module: UsageApplicationModule,
      imports: factory?.imports ?? [],
      providers: [
        factory
          ? { provide: UsageSweepSettings, inject: factory.inject ?? [], useFactory: factory.useFactory }
          : { provide: UsageSweepSettings, useValue: settings },
        UsageSweepUseCase,
      ],
      exports: [UsageSweepUseCase],
    };
  }
}

export interface UsageSweepSettingsFactory extends Pick<ModuleMetadata, 'imports'> {
  inject?: FactoryProvider['inject'];
  useFactory: (...args: never[]) => UsageSweepSettings;
}
