import { Module } from '@nestjs/common';
import { BurnRateRepository, TypeormBurnRateRepository } from '#persistence';
import { BurnRateAlertsUseCase } from './burn-rate-alerts.use-case.js';
import { WorkloadsApplicationModule } from '../workloads/workloads.module.js';

/** Allocations' use cases: burn-rate alerts, and (re-exported) stopping their running work (needs PersistenceModule). */
@Module({
  imports: [WorkloadsApplicationModule],
  providers: [{ provide: BurnRateRepository, useClass: TypeormBurnRateRepository }, BurnRateAlertsUseCase],
  exports: [WorkloadsApplicationModule, BurnRateAlertsUseCase],
})
export class AllocationsApplicationModule {}
