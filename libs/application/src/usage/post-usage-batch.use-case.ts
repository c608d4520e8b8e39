import { Injectable, Logger } from '@nestjs/common';
import { consumedAccount, allocationAccount, holdAccount, planUsagePosting, postingOutcome } from '#domain';
import {
  LedgerRepository,
  NotificationsRepository,
  TransactionRunner,
  UsagePostingRepository,
  type LockedUsageAllocation,
  type Tx,
} from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { deliveryJobs, stopJobs } from '../allocations/allocation-jobs.js';
import { StopAllocationWorkloadsUseCase } from '../workloads/stop-allocation-workloads.use-case.js';

export interface UsagePostingResult {
  /** False when the batch was already posted (a redelivered job) or does not exist. */
  posted: boolean;
  records: number;
  /** Allocations this batch exhausted whose program stops running workloads (`on_exhaustion` stop). */
  stopAllocations: string[];
  /** Webhook deliveries created by the alerts: enqueue them after commit. */
  deliveryIds: string[];
}

const NOT_POSTED: Readonly<UsagePostingResult> = {
  posted: false,
  records: 0,
  stopAllocations: [],
  deliveryIds: [],
};

/**
 * Posts one stored batch to the ledger and the rollups, exactly once (the `usage.post` job), then
 * enqueues the alerts' webhook deliveries and stops the running work of allocations it exhausted
 * whose program says so. The hot path of metering (bench:usage): its statements, their order and
 * its locks are measured and proven exactly-once by the usage integration suites.
 */
@Injectable()
export class PostUsageBatchUseCase {
  private readonly logger = new Logger(PostUsageBatchUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly postingRepository: UsagePostingRepository,
    private readonly ledger: LedgerRepository,
    private readonly notifications: NotificationsRepository,
    private readonly stopWorkloads: StopAllocationWorkloadsUseCase,
    private readonly producer: JobProducer,
  ) {}

  async execute(batchId: string): Promise<{ posted: boolean; records: number }> {
    const result = await this.post(batchId);
    if (!result.posted) return { posted: false, records: 0 };
    await enqueueAfterCommit(this.producer, deliveryJobs(result.deliveryIds), {
      logger: this.logger,
      recoveredBy: 'reconcile.webhooks',
    });
    for (const allocationId of result.stopAllocations) {
      const reason = 'allocation exhausted: its program stops running workloads';
      const stopped = await this.stopWorkloads.execute(allocationId, reason);
      await enqueueAfterCommit(this.producer, stopJobs(stopped), {
        logger: this.logger,
        recoveredBy: 'reconcile.workloads',
      });
      if (stopped.length > 0)
        this.logger.log({ allocationId, stopped: stopped.length, reason }, 'stopped workloads');
    }
    return { posted: true, records: result.records };
  }

  /**
   * The posting transaction. Locks in the order of docs/ARCHITECTURE.md ("Lock order"):
   * 1. the batch row, FOR NO KEY UPDATE — a concurrent posting of the same batch waits, then sees
   *    posted_at and does nothing (the exactly-once guard);
   * 2. the batch's allocations, FOR NO KEY UPDATE in id order — postings of one allocation serialize;
   * 3. the batch's workload rows, FOR NO KEY UPDATE in id order — before their holds, as every end
   *    of an attempt takes them (taking the holds first deadlocked against ends: issue 13 item 1);
   * 4. the attempt holds of the batch's workloads, FOR UPDATE in (workload, attempt) order;
   * 5. the balances of every account of the batch's allocations, in account order, in one statement
   *    (LedgerRepository.postMany), then ledger_transactions keys (unique index);
   * 6. rows already ours (holds, workloads), usage_daily rows in (allocation, day) order (ON
   *    CONFLICT DO UPDATE), the batch row (posted_at), notifications' dedupe keys.
   */
  async post(batchId: string): Promise<UsagePostingResult> {
    return this.transactions.run(async (tx) => {
      const batch = await this.postingRepository.lockBatch(tx, batchId);
      if (!batch || batch.posted) return { ...NOT_POSTED };
      const records = await this.postingRepository.batchRecords(tx, batchId);
      const allocationIds = [...new Set(records.map((r) => r.allocationId))].sort();
      const allocations = await this.postingRepository.lockAllocations(tx, allocationIds);
      const workloadIds = [...new Set(records.flatMap((r) => (r.workloadId ? [r.workloadId] : [])))].sort();
      await this.postingRepository.lockWorkloads(tx, workloadIds);
      const holds = await this.postingRepository.lockHolds(tx, workloadIds);
      const plan = planUsagePosting(batchId, records, holds);

      const consumedBefore = await this.ledger.balances(tx, allocationIds.map(consumedAccount));
      const already = await this.ledger.postMany(tx, plan.postings);
      if (already.length > 0) {
        // posted_at and these keys are written in one transaction: seeing one without the other is a bug.
        throw new Error(
          `usage batch ${batchId} was partly posted already: ${already.slice(0, 3).join(', ')}`,
        );
      }
      await this.postingRepository.applyHoldUpdates(tx, plan.holdUpdates);
      await this.postingRepository.addWorkloadConsumed(tx, plan.workloadConsumed);
      await this.postingRepository.addDailyRollups(tx, plan.daily, allocations);
      await this.postingRepository.markPosted(tx, batchId);

      const result: UsagePostingResult = {
        posted: true,
        records: records.length,
        stopAllocations: [],
        deliveryIds: [],
      };
      await this.recordOutcomes(tx, allocations, consumedBefore, result);
      return result;
    });
  }

  /** Threshold alerts and exhaustion, in the posting's transaction (each fires once by its key). */
  private async recordOutcomes(
    tx: Tx,
    allocations: ReadonlyMap<string, LockedUsageAllocation>,
    consumedBefore: ReadonlyMap<string, bigint>,
    result: UsagePostingResult,
  ): Promise<void> {
    const ids = [...allocations.keys()];
    const after = await this.ledger.balances(
      tx,
      ids.flatMap((id) => [consumedAccount(id), allocationAccount(id), holdAccount(id)]),
    );
    for (const id of ids) {
      const allocation = allocations.get(id)!;
      const outcome = postingOutcome(allocation, consumedBefore.get(consumedAccount(id)) ?? 0n, after);
      const facts = { granted: outcome.granted.toString(), consumed: outcome.consumed.toString() };
      if (outcome.alert) {
        const recorded = await this.notifications.record(tx, {
          projectId: allocation.projectId,
          allocationId: id,
          kind: outcome.alert.kind,
          dedupeKey: outcome.alert.key,
          title: `Usage alert: ${allocation.gpuModel} allocation`,
          body: outcome.alert.message,
          data: facts,
        });
        if (recorded) result.deliveryIds.push(...recorded.deliveryIds);
      }
      if (outcome.exhaustion) {
        await this.postingRepository.markExhausted(tx, id, outcome.exhaustion.reason);
        const stop = outcome.exhaustion.stopsRunningWork;
        const recorded = await this.notifications.record(tx, {
          projectId: allocation.projectId,
          allocationId: id,
          kind: 'allocation_exhausted',
          dedupeKey: `allocation_exhausted:${id}`,
          title: `Allocation exhausted: ${allocation.gpuModel}`,
          body: exhaustionMessage(id, allocation.gpuModel, stop),
          data: { ...facts, onExhaustion: allocation.onExhaustion },
        });
        if (recorded) result.deliveryIds.push(...recorded.deliveryIds);
        if (stop) result.stopAllocations.push(id);
      }
    }
  }
}

function exhaustionMessage(allocationId: string, gpuModel: string, stop: boolean): string {
  return (
    `Allocation ${allocationId} (${gpuModel}) has no quota left: no new workloads will be admitted. ` +
    (stop
      ? 'Its program stops running workloads when an allocation is exhausted, so they are being stopped. '
      : 'Its program lets running workloads finish. ') +
    'Ask the program for an extension or apply for a new allocation to keep working.'
  );
}
