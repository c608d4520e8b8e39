import { Module } from '@nestjs/common';
import {
  BurnRateRepository,
  NotificationsRepository,
  TypeormBurnRateRepository,
  TypeormUsageMaintenanceRepository,
  UsageMaintenanceRepository,
} from '#persistence';
import { BurnRateAlertsUseCase } from './burn-rate-alerts.use-case.js';
import { StopAllocationWorkloadsUseCase } from './stop-allocation-workloads.use-case.js';

/** Allocations' use cases: stopping their running work, burn-rate alerts (needs PersistenceModule). */
@Module({
  providers: [
    { provide: UsageMaintenanceRepository, useClass: TypeormUsageMaintenanceRepository },
    { provide: BurnRateRepository, useClass: TypeormBurnRateRepository },
    NotificationsRepository,
    StopAllocationWorkloadsUseCase,
    BurnRateAlertsUseCase,
  ],
  exports: [StopAllocationWorkloadsUseCase, BurnRateAlertsUseCase],
})
export class AllocationsApplicationModule {}
