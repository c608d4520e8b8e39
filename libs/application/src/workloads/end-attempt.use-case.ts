import { Injectable } from '@nestjs/common';
import {
  afterInfrastructureFailure,
  closeAttemptHold,
  isTerminalWorkloadState,
  usedGpuSeconds,
  type TerminalWorkloadState,
} from '#domain';
import {
  AttemptHoldRepository,
  LedgerRepository,
  PartitionRepository,
  WorkloadPlacementRepository,
  WorkloadRepository,
  type Tx,
  type WorkloadEntity,
  type WorkloadHoldEntity,
} from '#persistence';

export interface WorkloadEnd {
  state: TerminalWorkloadState;
  reason: string;
  /** Runtime reported by the cluster agent; null when the end comes from gpupool itself. */
  runtimeSeconds: number | null;
  at: Date;
  /** Set when the infrastructure failed the attempt (node down, lost run): its usage is refunded. */
  refundReason?: string | null;
}

/**
 * The end of an admission attempt, shared by every path that ends or requeues a workload: the
 * scheduling cycle (preemption), cancellation, node failure, a stopped allocation, a lost run and
 * the cluster agent's end report. A step of the caller's transaction, not a transaction of its own:
 * the caller has taken the partition advisory lock and locked the workload row first.
 *
 * Locks, in the order they are taken (the lock order of docs/ARCHITECTURE.md):
 *   1. the rows of the workload's nodes (UPDATE nodes), then its workload_placements rows (DELETE);
 *   2. the attempt's workload_holds row (SELECT … FOR UPDATE; inserted first if the attempt has none);
 *   3. the ledger: the balance rows of all the allocation's accounts in account order (see
 *      lockAllocationAccounts), then ledger_transactions / ledger_entries inserts;
 *   4. the workload row (UPDATE, already locked by the caller);
 *   5. a partition_triggers insert (the partition needs a cycle).
 * A caller ending several workloads in one transaction locks all their rows first (in id order),
 * then calls lockQuotas with all of them, then ends them one by one.
 */
@Injectable()
export class EndAttemptUseCase {
  constructor(
    private readonly workloads: WorkloadRepository,
    private readonly placements: WorkloadPlacementRepository,
    private readonly holds: AttemptHoldRepository,
    private readonly ledger: LedgerRepository,
    private readonly partitions: PartitionRepository,
  ) {}

  /**
   * Before ending several workloads in one transaction: the balances of all their allocations, in
   * one statement, so ends of workloads of different allocations cannot take them in two orders.
   */
  async lockQuotas(tx: Tx, workloads: readonly WorkloadEntity[]): Promise<void> {
    await this.ledger.lockAllocationAccounts(tx, [...new Set(workloads.map((w) => w.allocationId))]);
  }

  /**
   * Ends a workload: releases its GPUs, closes its attempt's hold and records the terminal state.
   * A workload that is already terminal is left alone (returns false), so redelivered reports
   * change nothing.
   */
  async endWorkload(tx: Tx, workload: WorkloadEntity, end: WorkloadEnd): Promise<boolean> {
    if (isTerminalWorkloadState(workload.state)) return false;
    const used = usedGpuSeconds(workload, end.runtimeSeconds, end.at);
    await this.placements.release(tx, workload.id);
    await this.closeHold(tx, workload, used, end.at, end.refundReason ?? null);
    await this.workloads.markEnded(tx, workload.id, { state: end.state, reason: end.reason, at: end.at });
    await this.partitions.markDirty(tx, workload.gpuModel);
    return true;
  }

  /**
   * Preemption: the attempt ends (its hold closed, its usage refunded: preemption is gpupool's
   * decision, not the project's) and the workload goes back to the queue as a new attempt with its
   * original age, so it does not lose its place. Same locks, in the same order, as endWorkload.
   */
  async requeueWorkload(
    tx: Tx,
    workload: WorkloadEntity,
    reason: string,
    at: Date,
    cause: 'preemption' | 'infrastructure' = 'preemption',
    refundReason: string = reason,
  ): Promise<void> {
    const used = usedGpuSeconds(workload, null, at);
    await this.placements.release(tx, workload.id);
    await this.closeHold(tx, workload, used, at, refundReason);
    await this.workloads.markRequeued(tx, workload, reason, cause);
    await this.partitions.markDirty(tx, workload.gpuModel);
  }

  /**
   * The infrastructure failed the attempt (a node down, a lost run): its usage is refunded and its
   * hold released, and the workload is requeued with its age while its program's limit allows
   * (afterInfrastructureFailure), else it ends failed. Same locks, in the same order, as endWorkload
   * (the program's limit is read without a lock). Returns what happened, or null when the workload
   * had already ended.
   */
  async failForInfrastructure(
    tx: Tx,
    workload: WorkloadEntity,
    failure: { reason: string; at: Date; runtimeSeconds: number | null },
  ): Promise<'requeued' | 'failed' | null> {
    if (isTerminalWorkloadState(workload.state)) return null;
    const limit = await this.workloads.requeueLimitOf(tx, workload.programId);
    const outcome = afterInfrastructureFailure(workload.infrastructureRequeues, limit, failure.reason);
    if (outcome.action === 'requeue') {
      await this.requeueWorkload(tx, workload, outcome.reason, failure.at, 'infrastructure', failure.reason);
      return 'requeued';
    }
    await this.endWorkload(tx, workload, {
      state: 'failed',
      reason: outcome.reason,
      runtimeSeconds: failure.runtimeSeconds,
      at: failure.at,
      refundReason: failure.reason,
    });
    return 'failed';
  }

  /** Closes the attempt's hold (see closeAttemptHold in libs/domain); a closed hold stays closed. */
  private async closeHold(
    tx: Tx,
    workload: WorkloadEntity,
    runtimeGpuSeconds: bigint,
    at: Date,
    refundReason: string | null,
  ): Promise<void> {
    const key = { workloadId: workload.id, attempt: workload.attempt };
    const hold = await this.lockOrRecordHold(tx, workload, at);
    if (!hold || hold.endedAt !== null) return;
    const closing = closeAttemptHold(hold, { ...key, runtimeGpuSeconds, at, refundReason });
    for (const posting of closing.postings) await this.ledger.post(tx, posting);
    await this.holds.close(tx, key, {
      remainingGpuSeconds: closing.awaitingGpuSeconds,
      endedAt: at,
      releaseAfter: closing.releaseAfter,
      refundReason,
      refundedGpuSeconds: closing.refundedGpuSeconds,
    });
  }

  /**
   * The attempt's hold, locked. A workload admitted by a path that recorded no attempt hold (rows
   * from before holds were kept per attempt) gets one from its own figure first.
   */
  private async lockOrRecordHold(
    tx: Tx,
    workload: WorkloadEntity,
    at: Date,
  ): Promise<WorkloadHoldEntity | null> {
    const key = { workloadId: workload.id, attempt: workload.attempt };
    const hold = await this.holds.lockHold(tx, key);
    if (hold || workload.heldGpuSeconds <= 0n) return hold;
    await this.holds.insert(tx, {
      ...key,
      allocationId: workload.allocationId,
      heldGpuSeconds: workload.heldGpuSeconds,
      remainingGpuSeconds: workload.heldGpuSeconds,
      admittedAt: workload.admittedAt ?? at,
      startedAt: workload.startedAt,
    });
    return this.holds.lockHold(tx, key);
  }
}
