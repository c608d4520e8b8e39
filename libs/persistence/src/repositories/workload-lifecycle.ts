import type { EntityManager } from 'typeorm';
import { refundTransaction, releaseHoldTransaction } from '#domain';
import { WorkloadHoldEntity } from '../entities/usage.entities.js';
import { WorkloadEntity, WorkloadPlacementEntity } from '../entities/workload.entities.js';
import { postLedgerTransaction } from './ledger.repository.js';

/**
 * The writes every path that ends or requeues a workload shares: the scheduling cycle (preemption),
 * cancellation, node failure and the cluster agent's end report. Each runs inside the caller's
 * transaction, after the caller took the partition lock.
 */

export const TERMINAL_WORKLOAD_STATES = ['succeeded', 'failed', 'cancelled', 'preempted'] as const;
export type TerminalWorkloadState = (typeof TERMINAL_WORKLOAD_STATES)[number];
export const ACTIVE_WORKLOAD_STATES = ['admitted', 'running'] as const;

/**
 * Serializes everything that changes a GPU-model partition's placements or node capacity: the
 * cycle, completions, cancellations, node state changes. Held until the transaction ends.
 */
export async function lockPartition(manager: EntityManager, gpuModel: string): Promise<void> {
  await manager.query("SELECT pg_advisory_xact_lock(hashtext('gpupool:partition'), hashtext($1))", [
    gpuModel,
  ]);
}

/** The cycle's lock: returns false at once when another process is running this partition's cycle. */
export async function tryLockPartition(manager: EntityManager, gpuModel: string): Promise<boolean> {
  const rows = await manager.query<{ locked: boolean }[]>(
    "SELECT pg_try_advisory_xact_lock(hashtext('gpupool:partition'), hashtext($1)) AS locked",
    [gpuModel],
  );
  return rows[0]?.locked === true;
}

/** Something changed that may let a queued workload start: the partition needs a cycle. */
export async function markPartitionDirty(manager: EntityManager, gpuModel: string): Promise<void> {
  await manager.query('INSERT INTO partition_triggers (gpu_model) VALUES ($1)', [gpuModel]);
}

/** The cycle takes the triggers it can see; any committed after this keep the partition dirty. */
export async function consumePartitionTriggers(manager: EntityManager, gpuModel: string): Promise<void> {
  await manager.query('DELETE FROM partition_triggers WHERE gpu_model = $1', [gpuModel]);
}

/** True while a trigger of the partition waits for a cycle. */
export async function partitionIsDirty(manager: EntityManager, gpuModel: string): Promise<boolean> {
  const rows = await manager.query<{ dirty: boolean }[]>(
    'SELECT EXISTS (SELECT 1 FROM partition_triggers WHERE gpu_model = $1) AS dirty',
    [gpuModel],
  );
  return rows[0]?.dirty === true;
}

/** Gives a workload's GPUs back to its nodes. */
export async function releasePlacements(manager: EntityManager, workloadId: string): Promise<void> {
  await manager.query(
    `UPDATE nodes n SET gpus_allocated = n.gpus_allocated - p.gpus, updated_at = now()
     FROM workload_placements p WHERE p.workload_id = $1 AND p.node_id = n.id`,
    [workloadId],
  );
  await manager.getRepository(WorkloadPlacementEntity).delete({ workloadId });
}

/** GPU-seconds an attempt's runtime explains: the runtime the cluster reported, else the time since it started. */
export function usedGpuSeconds(workload: WorkloadEntity, runtimeSeconds: number | null, at: Date): bigint {
  if (runtimeSeconds !== null) return BigInt(workload.gpus) * BigInt(runtimeSeconds);
  if (!workload.startedAt) return 0n;
  const seconds = Math.max(0, Math.floor((at.getTime() - workload.startedAt.getTime()) / 1000));
  return BigInt(workload.gpus) * BigInt(seconds);
}

/** Usage of an ended attempt may arrive this long after its end; then what is still held is released. */
export const METERING_GRACE_MS = 60 * 60_000;

/**
 * Closes an attempt's hold at its end. Consumption comes only from usage records (posted by the
 * usage pipeline, taken from this hold first). Here the part of the hold that the runtime does not
 * explain goes back to the allocation; the part it does (gpus × runtime − metered so far) stays held
 * until its usage records arrive, or until `METERING_GRACE_MS` has passed (the usage reconciler then
 * releases it). So a late meter never lets admission spend quota twice.
 *
 * `refundReason` (a failure of the infrastructure: node down, preemption, a lost run) marks the
 * attempt: everything metered for it so far is refunded now, and later records of it are refunded
 * as they are posted.
 */
export async function closeAttemptHold(
  manager: EntityManager,
  workload: WorkloadEntity,
  runtimeGpuSeconds: bigint,
  at: Date,
  refundReason: string | null,
): Promise<void> {
  const holds = manager.getRepository(WorkloadHoldEntity);
  const key = { workloadId: workload.id, attempt: workload.attempt };
  let hold = await holds.findOne({ where: key, lock: { mode: 'pessimistic_write' } });
  if (!hold && workload.heldGpuSeconds > 0n) {
    // Admitted by a path that recorded no attempt hold (rows from before holds were kept per
    // attempt): the workload's own figure is the hold.
    await holds.insert({
      ...key,
      allocationId: workload.allocationId,
      heldGpuSeconds: workload.heldGpuSeconds,
      remainingGpuSeconds: workload.heldGpuSeconds,
      admittedAt: workload.admittedAt ?? at,
      startedAt: workload.startedAt,
    });
    hold = await holds.findOne({ where: key, lock: { mode: 'pessimistic_write' } });
  }
  if (!hold || hold.endedAt !== null) return;
  const unmetered = runtimeGpuSeconds - hold.meteredGpuSeconds;
  const awaiting =
    unmetered <= 0n ? 0n : unmetered < hold.remainingGpuSeconds ? unmetered : hold.remainingGpuSeconds;
  const release = hold.remainingGpuSeconds - awaiting;
  if (release > 0n) {
    await postLedgerTransaction(
      manager,
      releaseHoldTransaction({
        allocationId: hold.allocationId,
        workloadId: workload.id,
        attempt: workload.attempt,
        gpuSeconds: release,
        stage: 'end',
      }),
    );
  }
  const toRefund = refundReason === null ? 0n : hold.meteredGpuSeconds - hold.refundedGpuSeconds;
  if (toRefund > 0n) {
    await postLedgerTransaction(
      manager,
      refundTransaction({
        allocationId: hold.allocationId,
        refundId: `${workload.id}:${workload.attempt}:end`,
        gpuSeconds: toRefund,
        reason: refundReason ?? undefined,
      }),
    );
  }
  await holds.update(
    { workloadId: workload.id, attempt: workload.attempt },
    {
      remainingGpuSeconds: awaiting,
      endedAt: at,
      releaseAfter: awaiting > 0n ? new Date(at.getTime() + METERING_GRACE_MS) : null,
      refundReason,
      refundedGpuSeconds: hold.refundedGpuSeconds + toRefund,
    },
  );
}

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
 * Ends a workload: releases its GPUs, closes its attempt's hold and records the terminal state. A workload
 * that is already terminal is left alone (returns false), so redelivered reports change nothing.
 */
export async function endWorkload(
  manager: EntityManager,
  workload: WorkloadEntity,
  end: WorkloadEnd,
): Promise<boolean> {
  if ((TERMINAL_WORKLOAD_STATES as readonly string[]).includes(workload.state)) return false;
  const used = usedGpuSeconds(workload, end.runtimeSeconds, end.at);
  await releasePlacements(manager, workload.id);
  await closeAttemptHold(manager, workload, used, end.at, end.refundReason ?? null);
  await manager.getRepository(WorkloadEntity).update(workload.id, {
    state: end.state,
    endReason: end.reason,
    endedAt: end.at,
    heldGpuSeconds: 0n,
    waitReason: null,
    waitDetail: null,
    queuePosition: null,
    estimatedStartAt: null,
  });
  await markPartitionDirty(manager, workload.gpuModel);
  return true;
}

/**
 * Preemption: the attempt ends (its hold closed, its usage refunded) and the workload goes back
 * to the queue as a new attempt with its original age, so it does not lose its place.
 */
export async function requeueWorkload(
  manager: EntityManager,
  workload: WorkloadEntity,
  reason: string,
  at: Date,
): Promise<void> {
  const used = usedGpuSeconds(workload, null, at);
  await releasePlacements(manager, workload.id);
  // Preemption is gpupool's decision, not the project's: the attempt's usage is refunded.
  await closeAttemptHold(manager, workload, used, at, reason);
  await manager.getRepository(WorkloadEntity).update(workload.id, {
    state: 'queued',
    attempt: workload.attempt + 1,
    endReason: reason,
    admittedAt: null,
    dispatchedAt: null,
    startedAt: null,
    borrowed: false,
    heldGpuSeconds: 0n,
  });
  await markPartitionDirty(manager, workload.gpuModel);
}
