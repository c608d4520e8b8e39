import type { DataSource } from 'typeorm';
import type { GpupoolConfig } from '#config';
import { CloseBillingPeriodUseCase, SweepBillingClosesUseCase } from '#application';
import {
  TypeormAuditRepository,
  TypeormBillingCloseRepository,
  TypeormBillingPeriodCloser,
  TypeormTransactionRunner,
} from '#persistence';
import { jobOptionsFor, type JobProducer } from '#queues';

/** The scheduler's side of billing closes: the `billing.close` job and the `reconcile.closes` sweep. */
export function billingCloseJobs(dataSource: DataSource, producer: JobProducer, config: GpupoolConfig) {
  const closes = new TypeormBillingCloseRepository(dataSource);
  const close = new CloseBillingPeriodUseCase(
    new TypeormTransactionRunner(dataSource),
    closes,
    new TypeormBillingPeriodCloser(dataSource),
    new TypeormAuditRepository(dataSource),
    config.FAULT_CLOSE_DELAY_MS,
  );
  const sweep = new SweepBillingClosesUseCase(closes, producer);
  const attempts = jobOptionsFor({ name: 'billing.close', data: { closeId: '' } }).attempts;
  return {
    close: (closeId: string, attempt: number) => close.execute(closeId, { lastAttempt: attempt >= attempts }),
    sweep: () => sweep.execute(config.RECONCILE_GRACE_MS),
  };
}
