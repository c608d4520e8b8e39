import type { DataSource } from 'typeorm';
import type { StopAllocationWorkloadsUseCase, StoppedAttempt } from '#application';
import {
  expireAllocations,
  latestReconciliationReport,
  postUsageBatch,
  reconcileUsageAndBalances,
  releaseStaleHolds,
} from '#persistence';
import type { JobItem, JobProducer } from '#queues';
import type { Logger } from '../logger.js';
import { enqueueDeliveries } from '../notifications/enqueue-deliveries.js';

export interface UsageServiceOptions {
  /** A stored batch without a posting after this long is re-enqueued by the sweep (Redis lost it). */
  unpostedGraceMs: number;
  /** How often the ledger/rollup drift check runs (it reads every entry: not every sweep). */
  driftCheckIntervalMs: number;
  /** Recall proposals and burn-rate alerts, when wired (see UsageSweepExtras). */
  extras?: UsageSweepExtras;
}

/** Periodic usage rules that live in their own repositories. */
export interface UsageSweepExtras {
  proposeRecalls?: (now: Date) => Promise<{ deliveryIds: string[] }>;
  burnRateAlerts?: (now: Date) => Promise<{ deliveryIds: string[] }>;
}

export interface UsageSweepResult {
  requeuedBatches: number;
  releasedHolds: number;
  expired: number;
  stopped: number;
  driftChecked: boolean;
  drifts: number;
}

/**
 * The scheduler's side of usage metering: posts stored batches (`usage.post`), and sweeps
 * (`reconcile.usage`) for what must happen by time or what Redis may have lost — unposted batches,
 * holds whose usage never came, windows that ended, recall rules, burn-rate alerts and the drift
 * check of balances and rollups.
 */
export class UsageService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly options: UsageServiceOptions,
    private readonly stopWorkloads: StopAllocationWorkloadsUseCase,
  ) {}

  async post(batchId: string): Promise<{ posted: boolean; records: number }> {
    const result = await postUsageBatch(this.dataSource, batchId);
    if (!result.posted) return { posted: false, records: 0 };
    await enqueueDeliveries(this.producer, result.deliveryIds);
    for (const allocationId of result.stopAllocations) {
      await this.stop(allocationId, 'allocation exhausted: its program stops running workloads');
    }
    // Quota changed (overdraft, exhaustion, released holds): the partitions decide again.
    return { posted: true, records: result.records };
  }

  async sweep(now = new Date()): Promise<UsageSweepResult> {
    const result: UsageSweepResult = {
      requeuedBatches: 0,
      releasedHolds: 0,
      expired: 0,
      stopped: 0,
      driftChecked: false,
      drifts: 0,
    };
    const unposted = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM usage_batches WHERE posted_at IS NULL AND received_at < $1 ORDER BY received_at LIMIT 1000`,
      [new Date(now.getTime() - this.options.unpostedGraceMs)],
    );
    if (unposted.length > 0) {
      await this.producer.enqueueMany(
        unposted.map((row): JobItem => ({ name: 'usage.post', data: { batchId: row.id } })),
      );
      result.requeuedBatches = unposted.length;
      this.logger.warn({ batches: unposted.length }, 're-enqueued unposted usage batches');
    }
    result.releasedHolds = await releaseStaleHolds(this.dataSource, now);
    const expiry = await expireAllocations(this.dataSource, now);
    result.expired = expiry.expired.length;
    await enqueueDeliveries(this.producer, expiry.deliveryIds);
    for (const allocationId of expiry.stopAllocations) {
      result.stopped += await this.stop(
        allocationId,
        'allocation expired: its program stops running workloads',
      );
    }
    const extras = this.options.extras;
    if (extras?.proposeRecalls) {
      await enqueueDeliveries(this.producer, (await extras.proposeRecalls(now)).deliveryIds);
    }
    if (extras?.burnRateAlerts) {
      await enqueueDeliveries(this.producer, (await extras.burnRateAlerts(now)).deliveryIds);
    }
    const last = await latestReconciliationReport(this.dataSource);
    if (!last || now.getTime() - last.createdAt.getTime() >= this.options.driftCheckIntervalMs) {
      const report = await reconcileUsageAndBalances(this.dataSource);
      result.driftChecked = true;
      result.drifts = report.accountDrifts + report.rollupDrifts + report.usageDrifts;
      const log =
        result.drifts > 0 ? this.logger.error.bind(this.logger) : this.logger.info.bind(this.logger);
      log(
        {
          reportId: report.id,
          accountDrifts: report.accountDrifts,
          rollupDrifts: report.rollupDrifts,
          usageDrifts: report.usageDrifts,
          drifts: report.drifts.slice(0, 10),
          durationMs: report.durationMs,
        },
        result.drifts > 0 ? 'ledger or usage drift found' : 'ledger and usage reconcile',
      );
    }
    return result;
  }

  /** Ends an allocation's running work and tells the clusters; returns how many attempts stopped. */
  private async stop(allocationId: string, reason: string): Promise<number> {
    const stopped: StoppedAttempt[] = await this.stopWorkloads.execute(allocationId, reason);
    const jobs: JobItem[] = stopped.map((attempt) => ({
      name: 'dispatch.cancel',
      data: { workloadId: attempt.workloadId, attempt: attempt.attempt, reason: reason.slice(0, 200) },
    }));
    for (const gpuModel of new Set(stopped.map((attempt) => attempt.gpuModel))) {
      jobs.push({ name: 'schedule.cycle', data: { gpuModel } });
    }
    await this.producer.enqueueMany(jobs);
    if (stopped.length > 0)
      this.logger.info({ allocationId, stopped: stopped.length, reason }, 'stopped workloads');
    return stopped.length;
  }
}
