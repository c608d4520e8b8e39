import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { WorkloadEntity } from '../entities/workload.entities.js';
import type { Tx } from '../transaction.js';
import {
  consumePartitionTriggers,
  lockPartition,
  partitionIsDirty,
  tryLockPartition,
} from './partition.repository.js';

const LOCK_NOT_AVAILABLE = '55P03';

function sqlState(error: unknown): string | undefined {
  const withCode = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = withCode?.driverError?.code ?? withCode?.code;
  return typeof code === 'string' ? code : undefined;
}

/** TypeORM answers an UPDATE on PostgreSQL with [rows, affected]; RETURNING rows are the first. */
async function updateReturning<T>(tx: Tx, sql: string, parameters: unknown[]): Promise<T[]> {
  const [rows] = await tx.query<[T[], number]>(sql, parameters);
  return rows;
}

export interface CycleAdmissionRow {
  workloadId: string;
  borrowed: boolean;
  holdGpuSeconds: bigint;
  attempt: number;
  allocationId: string;
}

export interface CyclePlacementRow {
  workloadId: string;
  nodeId: string;
  gpus: number;
}

export interface CycleWaitingRow {
  workloadId: string;
  reason: string;
  detail: string | null;
  position: number | null;
  estimatedStartAt: Date | null;
}

/**
 * The SQL of a scheduling cycle's round (the partition's loading is PartitionSnapshotRepository's): the lock
 * with a bounded wait, the database clock, the set-based writes of admissions, placements, node
 * counters, holds and waiting info, and the partition's bookkeeping. No decisions: the cycle makes them.
 */
@Injectable()
export class SchedulingCycleRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The partition lock: at once if free, else a bounded wait (lock_timeout) behind its holder. */
  async lock(tx: Tx, gpuModel: string, waitMs: number): Promise<boolean> {
    if (await tryLockPartition(tx, gpuModel)) return true;
    if (waitMs <= 0) return false;
    await tx.query("SELECT set_config('lock_timeout', $1, true)", [`${waitMs}ms`]);
    await tx.query('SAVEPOINT cycle_lock');
    let locked: boolean;
    try {
      await lockPartition(tx, gpuModel);
      await tx.query('RELEASE SAVEPOINT cycle_lock');
      locked = true;
    } catch (error) {
      if (sqlState(error) !== LOCK_NOT_AVAILABLE) throw error;
      await tx.query('ROLLBACK TO SAVEPOINT cycle_lock');
      locked = false;
    }
    // Local to the transaction anyway; reset so the round's own statements never time out on locks.
    await tx.query("SELECT set_config('lock_timeout', '0', true)");
    return locked;
  }

  consumeTriggers(tx: Tx, gpuModel: string): Promise<void> {
    return consumePartitionTriggers(tx, gpuModel);
  }

  /** The database clock: the instant the cycle decides at (text for exact round-trips, and Date). */
  async clock(tx: Tx): Promise<{ at: string; now: Date }> {
    const [clock] = await tx.query<{ at: string; now: Date }[]>(
      'SELECT t::text AS at, t AS now FROM clock_timestamp() AS t',
    );
    if (!clock) throw new Error('no clock');
    return clock;
  }

  /** True while a trigger of the partition waits for a cycle; outside any transaction without `tx`. */
  isDirty(gpuModel: string, tx: Tx = this.dataSource.manager): Promise<boolean> {
    return partitionIsDirty(tx, gpuModel);
  }

  workloads(tx: Tx, ids: string[]): Promise<WorkloadEntity[]> {
    return tx.getRepository(WorkloadEntity).findBy({ id: In(ids) });
  }

  /**
   * Locks the rows a round writes (FOR UPDATE, in id order, in one statement): the lock order of
   * docs/ARCHITECTURE.md puts workload rows before holds and balances, so a round must hold all of
   * its rows before its first ledger posting, not take them one statement at a time.
   */
  async lockWorkloads(tx: Tx, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await tx.query('SELECT id FROM workloads WHERE id = ANY($1) ORDER BY id FOR UPDATE', [ids]);
  }

  /** Queued → admitted, guarded by state and attempt; returns the ids that were still queued. */
  async admit(tx: Tx, now: Date, rows: CycleAdmissionRow[]): Promise<string[]> {
    const updated = await updateReturning<{ id: string }>(
      tx,
      `UPDATE workloads w
       SET state = 'admitted', admitted_at = $1, dispatched_at = NULL, started_at = NULL, borrowed = v.borrowed,
           held_gpu_seconds = v.held, wait_reason = NULL, wait_detail = NULL, queue_position = NULL,
           estimated_start_at = NULL, updated_at = now()
       FROM unnest($2::uuid[], $3::boolean[], $4::bigint[], $5::int[]) AS v(id, borrowed, held, attempt)
       WHERE w.id = v.id AND w.state = 'queued' AND w.attempt = v.attempt
       RETURNING w.id`,
      [
        now,
        rows.map((row) => row.workloadId),
        rows.map((row) => row.borrowed),
        rows.map((row) => row.holdGpuSeconds.toString()),
        rows.map((row) => row.attempt),
      ],
    );
    return updated.map((row) => row.id);
  }

  /** The placements and the node counters (the CHECK refuses any over-booking); returns the nodes updated. */
  async place(tx: Tx, placements: CyclePlacementRow[]): Promise<number> {
    const workloads = placements.map((part) => part.workloadId);
    const nodes = placements.map((part) => part.nodeId);
    const gpus = placements.map((part) => part.gpus);
    await tx.query(
      `INSERT INTO workload_placements (workload_id, node_id, gpus)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[])`,
      [workloads, nodes, gpus],
    );
    const nodesUpdated = await updateReturning<{ id: string }>(
      tx,
      `UPDATE nodes n SET gpus_allocated = n.gpus_allocated + v.gpus, updated_at = now()
       FROM (SELECT node_id, sum(gpus)::int AS gpus FROM unnest($1::uuid[], $2::int[]) AS t(node_id, gpus)
             GROUP BY node_id) v
       WHERE n.id = v.node_id
       RETURNING n.id`,
      [nodes, gpus],
    );
    return nodesUpdated.length;
  }

  /** The attempts' holds, which usage records draw on (see closeAttemptHold). */
  async insertHolds(tx: Tx, now: Date, rows: CycleAdmissionRow[]): Promise<void> {
    await tx.query(
      `INSERT INTO workload_holds (workload_id, attempt, allocation_id, held_gpu_seconds, remaining_gpu_seconds, admitted_at)
       SELECT id, attempt, allocation_id, held, held, $1 FROM unnest($2::uuid[], $3::int[], $4::uuid[], $5::bigint[])
         AS v(id, attempt, allocation_id, held)`,
      [
        now,
        rows.map((row) => row.workloadId),
        rows.map((row) => row.attempt),
        rows.map((row) => row.allocationId),
        rows.map((row) => row.holdGpuSeconds.toString()),
      ],
    );
  }

  /** The accounts among `accounts` whose balance is below zero. */
  negativeBalances(tx: Tx, accounts: string[]): Promise<{ account: string; balance: string }[]> {
    return tx.query<{ account: string; balance: string }[]>(
      `SELECT account, sum(amount)::text AS balance FROM ledger_entries WHERE account = ANY($1)
       GROUP BY account HAVING sum(amount) < 0`,
      [accounts],
    );
  }

  /** Why each queued workload waits, for the rows whose explanation changed. */
  async updateWaiting(tx: Tx, rows: CycleWaitingRow[]): Promise<void> {
    if (rows.length === 0) return;
    await tx.query(
      `UPDATE workloads w
       SET wait_reason = v.reason, wait_detail = v.detail, queue_position = v.position,
           estimated_start_at = v.eta, updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])
            AS v(id, reason, detail, position, eta)
       WHERE w.id = v.id AND w.state = 'queued'`,
      [
        rows.map((row) => row.workloadId),
        rows.map((row) => row.reason),
        rows.map((row) => row.detail),
        rows.map((row) => row.position),
        rows.map((row) => row.estimatedStartAt),
      ],
    );
  }

  /** The partition's bookkeeping of the round. */
  async recordCycle(tx: Tx, gpuModel: string, roundStartedAt: string, cycleMs: number): Promise<void> {
    await tx.query(
      `INSERT INTO scheduling_partitions AS p (gpu_model, last_cycle_at, cycles, last_cycle_ms)
       VALUES ($1, $2::timestamptz, 1, $3)
       ON CONFLICT (gpu_model) DO UPDATE SET
         last_cycle_at = excluded.last_cycle_at,
         cycles = p.cycles + 1,
         last_cycle_ms = excluded.last_cycle_ms`,
      [gpuModel, roundStartedAt, cycleMs],
    );
  }
}
