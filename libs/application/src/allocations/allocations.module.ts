import { Module } from '@nestjs/common';
import {
  AllocationRepository,
  BurnRateRepository,
  TypeormAllocationRepository,
  TypeormBurnRateRepository,
} from '#persistence';
import { AccessModule } from '../access/access.module.js';
import { AllocationQueries } from './allocation.queries.js';
import { AllocationReadAccess } from './allocation-read-access.js';
import { BurnRateAlertsUseCase } from './burn-rate-alerts.use-case.js';
import { ChangeAllocationStatusUseCase } from './change-allocation-status.use-case.js';
import { WorkloadsApplicationModule } from '../workloads/workloads.module.js';

/**
 * Allocations' use cases: reads (and who may read them), suspension and resumption, burn-rate
 * alerts, and (re-exported) stopping their running work. Needs PersistenceModule and a JobProducer.
 */
@Module({
  imports: [WorkloadsApplicationModule, AccessModule],
  providers: [
    { provide: BurnRateRepository, useClass: TypeormBurnRateRepository },
    { provide: AllocationRepository, useClass: TypeormAllocationRepository },
    BurnRateAlertsUseCase,
    AllocationReadAccess,
    AllocationQueries,
    ChangeAllocationStatusUseCase,
  ],
  exports: [
    WorkloadsApplicationModule,
    BurnRateAlertsUseCase,
    AllocationReadAccess,
    AllocationQueries,
    ChangeAllocationStatusUseCase,
  ],
})
export class AllocationsApplicationModule {}
