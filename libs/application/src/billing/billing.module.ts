import { Module } from '@nestjs/common';
import {
  BillingCloseRepository,
  BillingPeriodCloser,
  BillingPeriodRepository,
  TypeormBillingPeriodRepository,
  TypeormBillingCloseRepository,
  TypeormBillingPeriodCloser,
} from '#persistence';
import {
  BillingCloseQueries,
  CloseBillingPeriodUseCase,
  RequestBillingCloseUseCase,
  SweepBillingClosesUseCase,
} from './billing-close.use-cases.js';

/** Billing periods' closes (needs PersistenceModule and a JobProducer). */
@Module({
  providers: [
    RequestBillingCloseUseCase,
    CloseBillingPeriodUseCase,
    SweepBillingClosesUseCase,
    BillingCloseQueries,
    { provide: BillingCloseRepository, useClass: TypeormBillingCloseRepository },
    { provide: BillingPeriodCloser, useClass: TypeormBillingPeriodCloser },
    { provide: BillingPeriodRepository, useClass: TypeormBillingPeriodRepository },
  ],
  exports: [
    BillingPeriodRepository,
    RequestBillingCloseUseCase,
    CloseBillingPeriodUseCase,
    SweepBillingClosesUseCase,
    BillingCloseQueries,
  ],
})
export class BillingApplicationModule {}
