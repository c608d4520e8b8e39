import { Injectable } from '@nestjs/common';
import type { Tx } from '../transaction.js';

export interface PartitionNodeRow {
  id: string;
  /** `cluster_id/interconnect_domain`: domains are named per cluster. */
  domain: string;
  gpus_total: number;
  gpus_allocated: number;
  state: string;
}

export interface PartitionQueuedRow {
  id: string;
  allocation_id: string;
  project_id: string;
  program_id: string;
  gpus: number;
  walltime_seconds: number;
  priority_tier: number;
  queued_at: Date;
  attempt: number;
  wait_reason: string | null;
  wait_detail: string | null;
  queue_position: number | null;
  estimated_start_at: Date | null;
}

export interface PartitionRunningRow {
  id: string;
  allocation_id: string;
  project_id: string;
  program_id: string;
  gpus: number;
  attempt: number;
  admitted_at: Date;
  expected_end_at: Date;
  borrowed: boolean;
  /** The placement's nodes, ordered by node id; null when it has none. */
  node_ids: string[] | null;
  /** The GPUs on each of `node_ids`, in the same order. */
  node_gpus: number[] | null;
}

export interface PartitionAllocationRow {
  id: string;
  max_concurrent_gpus: number;
  /** Active, and `now` inside its window. */
  admitting: boolean;
  gpus_in_use: number;
  /** The ledger balance of `allocation:<id>`, as text (bigint). */
  remaining: string;
}

export interface PartitionProgramBudgetRow {
  program_id: string;
  /** GPU-seconds, as text (bigint). */
  budget: string;
}

export interface PartitionProjectUsageRow {
  project_id: string;
  usage: number;
}

export interface PartitionProjectGrantRow {
  project_id: string;
  /** GPU-seconds granted, as text (bigint). */
  granted: string;
}

export interface PartitionReservationWindowRow {
  node_id: string;
  allocation_id: string;
  starts_at: Date;
  ends_at: Date;
}

/**
 * The reads of a scheduling cycle's partition snapshot (its writes are SchedulingCycleRepository's).
 * Each method is one set-based statement, whatever the partition's size (6,250 nodes and 100,000
 * queued workloads), run in the caller's transaction: the cycle holds the partition lock, so the
 * rows are one consistent picture. Every number the ledger owns is read from the ledger. Rows come
 * back as PostgreSQL returns them; the scheduler shapes them into its PartitionSnapshot.
 */
@Injectable()
export class PartitionSnapshotRepository {
  /** The largest server size among the model's node pools (null when it has none). */
  async gpusPerNode(tx: Tx, gpuModel: string): Promise<number | null> {
    const rows = await tx.query<{ gpus_per_node: number | null }[]>(
      'SELECT max(gpus_per_node) AS gpus_per_node FROM node_pools WHERE gpu_model = $1',
      [gpuModel],
    );
    return rows[0]?.gpus_per_node ?? null;
  }

  /** The model's nodes, by id. */
  nodes(tx: Tx, gpuModel: string): Promise<PartitionNodeRow[]> {
    return tx.query<PartitionNodeRow[]>(
      `SELECT id, cluster_id || '/' || interconnect_domain AS domain, gpus_total, gpus_allocated, state
     FROM nodes WHERE gpu_model = $1 ORDER BY id`,
      [gpuModel],
    );
  }

  /** The queued workloads, oldest first. */
  queued(tx: Tx, gpuModel: string): Promise<PartitionQueuedRow[]> {
    return tx.query<PartitionQueuedRow[]>(
      `SELECT id, allocation_id, project_id, program_id, gpus, walltime_seconds, priority_tier, queued_at,
            attempt, wait_reason, wait_detail, queue_position, estimated_start_at
     FROM workloads WHERE gpu_model = $1 AND state = 'queued'
     ORDER BY queued_at, id`,
      [gpuModel],
    );
  }

  /** The admitted and running workloads with their placements, first admitted first. */
  running(tx: Tx, gpuModel: string): Promise<PartitionRunningRow[]> {
    return tx.query<PartitionRunningRow[]>(
      `SELECT w.id, w.allocation_id, w.project_id, w.program_id, w.gpus, w.attempt, w.admitted_at, w.borrowed,
            coalesce(w.started_at, w.admitted_at) + w.walltime_seconds * interval '1 second' AS expected_end_at,
            array_agg(p.node_id ORDER BY p.node_id) FILTER (WHERE p.node_id IS NOT NULL) AS node_ids,
            array_agg(p.gpus ORDER BY p.node_id) FILTER (WHERE p.node_id IS NOT NULL) AS node_gpus
     FROM workloads w LEFT JOIN workload_placements p ON p.workload_id = w.id
     WHERE w.gpu_model = $1 AND w.state IN ('admitted', 'running')
     GROUP BY w.id
     ORDER BY w.admitted_at, w.id`,
      [gpuModel],
    );
  }

  /**
   * Every allocation with queued, admitted or running work in the partition: its GPUs in use, cap,
   * window at `now`, and the ledger balance of `allocation:<id>` (one grouped query over those accounts).
   */
  allocations(tx: Tx, gpuModel: string, now: Date): Promise<PartitionAllocationRow[]> {
    return tx.query<PartitionAllocationRow[]>(
      `WITH involved AS (
       SELECT allocation_id,
              coalesce(sum(gpus) FILTER (WHERE state IN ('admitted', 'running')), 0)::int AS gpus_in_use
       FROM workloads WHERE gpu_model = $1 AND state IN ('queued', 'admitted', 'running')
       GROUP BY allocation_id
     ),
     balances AS (
       SELECT account, balance FROM account_balances
       WHERE account = ANY (SELECT 'allocation:' || allocation_id FROM involved)
     )
     SELECT a.id, a.max_concurrent_gpus, i.gpus_in_use,
            (a.status = 'active' AND a.starts_at <= $2 AND $2 < a.ends_at) AS admitting,
            coalesce(b.balance, 0)::text AS remaining
     FROM involved i
     JOIN allocations a ON a.id = i.allocation_id
     LEFT JOIN balances b ON b.account = 'allocation:' || a.id`,
      [gpuModel, now],
    );
  }

  /** The programs with a positive budget for the model. */
  programBudgets(tx: Tx, gpuModel: string): Promise<PartitionProgramBudgetRow[]> {
    return tx.query<PartitionProgramBudgetRow[]>(
      `SELECT program_id, budget_gpu_seconds::text AS budget FROM program_budgets
     WHERE gpu_model = $1 AND budget_gpu_seconds > 0`,
      [gpuModel],
    );
  }

  /**
   * Recent usage per project: GPU-seconds run, each workload's weighed by 2^(−age / half-life) where
   * age is the time since it ended (0 while it runs). Workloads that ended more than
   * `windowHalfLives` half-lives before `now` are left out. One row per project.
   */
  projectUsage(
    tx: Tx,
    gpuModel: string,
    now: Date,
    halfLifeSeconds: number,
    windowHalfLives: number,
  ): Promise<PartitionProjectUsageRow[]> {
    return tx.query<PartitionProjectUsageRow[]>(
      `SELECT project_id,
            sum(
              (consumed_gpu_seconds
                 + CASE WHEN state IN ('admitted', 'running') AND started_at IS NOT NULL
                        THEN gpus * greatest(0, extract(epoch FROM ($2::timestamptz - started_at)))
                        ELSE 0 END)
              * power(0.5, greatest(0, extract(epoch FROM ($2::timestamptz - coalesce(ended_at, $2::timestamptz)))) / $3)
            )::float8 AS usage
     FROM workloads
     WHERE gpu_model = $1
       AND (state IN ('admitted', 'running')
            OR (ended_at > $2::timestamptz - ($3 * $4) * interval '1 second' AND consumed_gpu_seconds > 0)
            OR (state = 'queued' AND consumed_gpu_seconds > 0))
     GROUP BY project_id`,
      [gpuModel, now, halfLifeSeconds, windowHalfLives],
    );
  }

  /** GPU-seconds granted (ledger) to the model's allocations of each project with work in the partition. */
  projectGrants(tx: Tx, gpuModel: string): Promise<PartitionProjectGrantRow[]> {
    return tx.query<PartitionProjectGrantRow[]>(
      `WITH projects AS (
       SELECT DISTINCT project_id FROM workloads
       WHERE gpu_model = $1 AND state IN ('queued', 'admitted', 'running')
     )
     SELECT a.project_id, sum(e.amount)::text AS granted
     FROM allocations a
     JOIN projects p ON p.project_id = a.project_id
     JOIN ledger_entries e ON e.account = 'allocation:' || a.id AND e.amount > 0
     JOIN ledger_transactions t ON t.id = e.transaction_id AND t.kind = 'grant'
     WHERE a.gpu_model = $1
     GROUP BY a.project_id`,
      [gpuModel],
    );
  }

  /**
   * Each node's current and future reservation windows (a released node's window ends at its
   * release), by node then start.
   */
  reservationWindows(tx: Tx, gpuModel: string, now: Date): Promise<PartitionReservationWindowRow[]> {
    return tx.query<PartitionReservationWindowRow[]>(
      `SELECT rn.node_id, r.allocation_id, lower(rn.during) AS starts_at, upper(rn.during) AS ends_at
     FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id
     WHERE r.gpu_model = $1 AND upper(rn.during) > $2
     ORDER BY rn.node_id, lower(rn.during)`,
      [gpuModel, now],
    );
  }

  /** The ids of the reserved allocations with queued, admitted or running work in the partition. */
  async reservedAllocationsWithWork(tx: Tx, gpuModel: string): Promise<string[]> {
    const rows = await tx.query<{ id: string }[]>(
      `SELECT DISTINCT a.id FROM allocations a JOIN workloads w ON w.allocation_id = a.id
     WHERE a.gpu_model = $1 AND a.kind = 'reserved' AND w.state IN ('queued', 'admitted', 'running')
     ORDER BY a.id`,
      [gpuModel],
    );
    return rows.map((row) => row.id);
  }
}
