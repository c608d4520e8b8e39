import { Module } from '@nestjs/common';
import {
  BillingCloseRepository,
  BillingExportRepository,
  BillingPeriodCloser,
  BillingPeriodRepository,
  BillingPricingRepository,
  BillingStatementsRepository,
  TypeormBillingCloseRepository,
  TypeormBillingExportRepository,
  TypeormBillingPeriodCloser,
  TypeormBillingPeriodRepository,
  TypeormBillingPricingRepository,
  TypeormBillingStatementsRepository,
} from '#persistence';
import {
  BillingCloseQueries,
  CloseBillingPeriodUseCase,
  RequestBillingCloseUseCase,
  SweepBillingClosesUseCase,
} from './billing-close.use-cases.js';
import {
  BillingExportQueries,
  RequestBillingExportUseCase,
  SweepBillingExportsUseCase,
} from './billing-exports.use-cases.js';
import {
  CreateRateCardUseCase,
  ProgramPricingUseCases,
  RateCardQueries,
} from './billing-pricing.use-cases.js';
import { BillingStatementsQueries } from './billing-statements.queries.js';

/**
 * Billing: periods' closes, rate cards and programs' pricing, statements, and export requests and
 * sweeps (needs PersistenceModule and a JobProducer). The export job itself
 * (RunBillingExportUseCase) is built by the scheduler, which owns the file writers.
 */
@Module({
  providers: [
    RequestBillingCloseUseCase,
    CloseBillingPeriodUseCase,
    SweepBillingClosesUseCase,
    BillingCloseQueries,
    CreateRateCardUseCase,
    RateCardQueries,
    ProgramPricingUseCases,
    BillingStatementsQueries,
    RequestBillingExportUseCase,
    BillingExportQueries,
    SweepBillingExportsUseCase,
    { provide: BillingCloseRepository, useClass: TypeormBillingCloseRepository },
    { provide: BillingPeriodCloser, useClass: TypeormBillingPeriodCloser },
    { provide: BillingPeriodRepository, useClass: TypeormBillingPeriodRepository },
    { provide: BillingPricingRepository, useClass: TypeormBillingPricingRepository },
    { provide: BillingStatementsRepository, useClass: TypeormBillingStatementsRepository },
    { provide: BillingExportRepository, useClass: TypeormBillingExportRepository },
  ],
  exports: [
    BillingPeriodRepository,
    BillingExportRepository,
    RequestBillingCloseUseCase,
    CloseBillingPeriodUseCase,
    SweepBillingClosesUseCase,
    BillingCloseQueries,
    CreateRateCardUseCase,
    RateCardQueries,
    ProgramPricingUseCases,
    BillingStatementsQueries,
    RequestBillingExportUseCase,
    BillingExportQueries,
    SweepBillingExportsUseCase,
  ],
})
export class BillingApplicationModule {}
