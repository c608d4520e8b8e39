import { Injectable, Logger } from '@nestjs/common';
import { UsageBatchRepository } from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { BurnRateAlertsUseCase } from '../allocations/burn-rate-alerts.use-case.js';
import { deliveryJobs, stopJobs } from '../allocations/allocation-jobs.js';
import { StopAllocationWorkloadsUseCase } from '../workloads/stop-allocation-workloads.use-case.js';
import { ReconcileUsageUseCase } from './reconcile-usage.use-case.js';
import { ExpireAllocationsUseCase, ReleaseStaleHoldsUseCase } from './usage-maintenance.use-case.js';

/** How the usage sweep runs in a process (a DI token: the scheduler binds it from its config). */
export abstract class UsageSweepSettings {
  /** A stored batch without a posting after this long is re-enqueued by the sweep (Redis lost it). */
  abstract readonly unpostedGraceMs: number;
  /** How often the ledger/rollup drift check runs (it reads every entry: not every sweep). */
  abstract readonly driftCheckIntervalMs: number;
  /** Recall proposals, when wired (their rules live with the recalls). */
  abstract readonly proposeRecalls?: (now: Date) => Promise<{ deliveryIds: string[] }>;
}

export interface UsageSweepResult {
  requeuedBatches: number;
  releasedHolds: number;
  expired: number;
  stopped: number;
  driftChecked: boolean;
  drifts: number;
}

const UNPOSTED_PER_SWEEP = 1000;

/**
 * The `reconcile.usage` sweep, for what must happen by time or what Redis may have lost: unposted
 * batches, holds whose usage never came, windows that ended, recall rules, burn-rate alerts and the
 * drift check of balances and rollups.
 */
@Injectable()
export class UsageSweepUseCase {
  private readonly logger = new Logger(UsageSweepUseCase.name);

  constructor(
    private readonly settings: UsageSweepSettings,
    private readonly batches: UsageBatchRepository,
    private readonly releaseStaleHolds: ReleaseStaleHoldsUseCase,
    private readonly expireAllocations: ExpireAllocationsUseCase,
    private readonly stopWorkloads: StopAllocationWorkloadsUseCase,
    private readonly burnRateAlerts: BurnRateAlertsUseCase,
    private readonly reconcile: ReconcileUsageUseCase,
    private readonly producer: JobProducer,
  ) {}

  async execute(now = new Date()): Promise<UsageSweepResult> {
    const result: UsageSweepResult = {
      requeuedBatches: await this.requeueUnposted(now),
      releasedHolds: await this.releaseStaleHolds.execute(now),
      expired: 0,
      stopped: 0,
      driftChecked: false,
      drifts: 0,
    };
    const expiry = await this.expireAllocations.execute(now);
    result.expired = expiry.expired.length;
    await this.enqueueDeliveries(expiry.deliveryIds);
    for (const allocationId of expiry.stopAllocations) {
      result.stopped += await this.stop(
        allocationId,
        'allocation expired: its program stops running workloads',
      );
    }
    if (this.settings.proposeRecalls) {
      await this.enqueueDeliveries((await this.settings.proposeRecalls(now)).deliveryIds);
    }
    await this.enqueueDeliveries((await this.burnRateAlerts.execute(now)).deliveryIds);
    const drifts = await this.checkDrift(now);
    if (drifts !== null) {
      result.driftChecked = true;
      result.drifts = drifts;
    }
    return result;
  }

  /** Batches stored but not posted after the grace: their `usage.post` job was lost. */
  private async requeueUnposted(now: Date): Promise<number> {
    const unposted = await this.batches.unpostedBatchIds(
      new Date(now.getTime() - this.settings.unpostedGraceMs),
      UNPOSTED_PER_SWEEP,
    );
    if (unposted.length === 0) return 0;
    // Not after a commit: a failure fails the sweep, and the next one tries again.
    await this.producer.enqueueMany(
      unposted.map((batchId): JobItem => ({ name: 'usage.post', data: { batchId } })),
    );
    this.logger.warn({ batches: unposted.length }, 're-enqueued unposted usage batches');
    return unposted.length;
  }

  /** Runs the drift check when the last report is older than the interval; the drifts found, or null. */
  private async checkDrift(now: Date): Promise<number | null> {
    const last = await this.reconcile.latest();
    if (last && now.getTime() - last.createdAt.getTime() < this.settings.driftCheckIntervalMs) return null;
    const report = await this.reconcile.execute();
    const drifts = report.accountDrifts + report.rollupDrifts + report.usageDrifts;
    const details = {
      reportId: report.id,
      accountDrifts: report.accountDrifts,
      rollupDrifts: report.rollupDrifts,
      usageDrifts: report.usageDrifts,
      drifts: report.drifts.slice(0, 10),
      durationMs: report.durationMs,
    };
    if (drifts > 0) this.logger.error(details, 'ledger or usage drift found');
    else this.logger.log(details, 'ledger and usage reconcile');
    return drifts;
  }

  private async stop(allocationId: string, reason: string): Promise<number> {
    const stopped = await this.stopWorkloads.execute(allocationId, reason);
    await enqueueAfterCommit(this.producer, stopJobs(stopped), {
      logger: this.logger,
      recoveredBy: 'reconcile.workloads',
    });
    if (stopped.length > 0)
      this.logger.log({ allocationId, stopped: stopped.length, reason }, 'stopped workloads');
    return stopped.length;
  }

  private async enqueueDeliveries(deliveryIds: readonly string[]): Promise<void> {
    await enqueueAfterCommit(this.producer, deliveryJobs(deliveryIds), {
      logger: this.logger,
      recoveredBy: 'reconcile.webhooks',
    });
  }
}
