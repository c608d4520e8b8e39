import type { EntityManager } from 'typeorm';
import type {
  AllocationQuota,
  NodeReservation,
  PartitionSnapshot,
  PoolNode,
  QueuedWorkload,
  RunningWorkload,
  SchedulingSettings,
} from './scheduling-contract.js';

/** What the cycle remembers about a queued workload beyond the snapshot: to persist its decision. */
export interface QueuedMeta {
  attempt: number;
  waitReason: string | null;
  waitDetail: string | null;
  queuePosition: number | null;
  estimatedStartAt: number | null;
}

export interface LoadedPartition {
  snapshot: PartitionSnapshot;
  queuedMeta: Map<string, QueuedMeta>;
  /** Current attempt of each admitted or running workload (preemption cancels that attempt). */
  runningAttempt: Map<string, number>;
  /** Allocation of each queued workload: admissions are checked against its ledger balance. */
  allocationOf: Map<string, string>;
}

/** Usage older than this many half-lives weighs under 1/16 and is left out of fair share. */
export const FAIR_SHARE_WINDOW_HALF_LIVES = 4;

const BASIS_POINTS = 10_000n;

/**
 * Loads one GPU-model partition from PostgreSQL, inside the cycle's transaction and under its
 * partition lock, so nodes, placements, holds and the queue are one consistent picture. Every query
 * is set based (one statement per kind of row, whatever the partition's size: 6,250 nodes and
 * 100,000 queued workloads), and every number the ledger owns is read from the ledger.
 */
export async function loadPartition(
  manager: EntityManager,
  gpuModel: string,
  now: Date,
  settings: SchedulingSettings,
): Promise<LoadedPartition> {
  // Sequential on purpose: one transaction's connection runs one query at a time.
  const gpusPerNode = await loadGpusPerNode(manager, gpuModel);
  const nodes = await loadNodes(manager, gpuModel);
  const queuedRows = await loadQueued(manager, gpuModel);
  const runningRows = await loadRunning(manager, gpuModel);
  const allocations = await loadAllocations(manager, gpuModel, now);
  const entitlementsBasisPoints = await loadEntitlements(manager, gpuModel);
  const projectUsage = await loadProjectUsage(manager, gpuModel, now, settings.fairShareHalfLifeSeconds);
  const projectShares = await loadProjectShares(manager, gpuModel);
  const { nodeReservations, reservedAllocationIds } = await loadReservations(manager, gpuModel, now);

  const queuedMeta = new Map<string, QueuedMeta>();
  const allocationOf = new Map<string, string>();
  const queued: QueuedWorkload[] = queuedRows.map((row) => {
    queuedMeta.set(row.id, {
      attempt: row.attempt,
      waitReason: row.wait_reason,
      waitDetail: row.wait_detail,
      queuePosition: row.queue_position,
      estimatedStartAt: row.estimated_start_at ? row.estimated_start_at.getTime() : null,
    });
    allocationOf.set(row.id, row.allocation_id);
    return {
      id: row.id,
      allocationId: row.allocation_id,
      projectId: row.project_id,
      programId: row.program_id,
      gpus: row.gpus,
      walltimeSeconds: row.walltime_seconds,
      priorityTier: row.priority_tier,
      queuedAt: row.queued_at,
    };
  });
  const runningAttempt = new Map<string, number>();
  const running: RunningWorkload[] = runningRows.map((row) => {
    runningAttempt.set(row.id, row.attempt);
    return {
      id: row.id,
      allocationId: row.allocation_id,
      projectId: row.project_id,
      programId: row.program_id,
      gpus: row.gpus,
      placement: (row.node_ids ?? []).map((nodeId, index) => ({
        nodeId,
        gpus: row.node_gpus?.[index] ?? 0,
      })),
      admittedAt: row.admitted_at,
      expectedEndAt: row.expected_end_at,
      borrowed: row.borrowed,
    };
  });

  return {
    snapshot: {
      gpuModel,
      gpusPerNode,
      now,
      nodes,
      queued,
      running,
      allocations,
      entitlementsBasisPoints,
      projectUsage,
      projectShares,
      settings,
      nodeReservations,
      reservedAllocationIds,
    },
    queuedMeta,
    runningAttempt,
    allocationOf,
  };
}

/**
 * Reserved servers (issue 7): each node's current and future reservation windows (a released
 * node's window ends at its release), and every reserved allocation with work in the partition —
 * their work runs only on their reserved nodes (libs/domain reserved-capacity.ts).
 */
async function loadReservations(
  manager: EntityManager,
  gpuModel: string,
  now: Date,
): Promise<{ nodeReservations: NodeReservation[]; reservedAllocationIds: string[] }> {
  const windows = await manager.query<
    { node_id: string; allocation_id: string; starts_at: Date; ends_at: Date }[]
  >(
    `SELECT rn.node_id, r.allocation_id, lower(rn.during) AS starts_at, upper(rn.during) AS ends_at
     FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id
     WHERE r.gpu_model = $1 AND upper(rn.during) > $2
     ORDER BY rn.node_id, lower(rn.during)`,
    [gpuModel, now],
  );
  const owners = await manager.query<{ id: string }[]>(
    `SELECT DISTINCT a.id FROM allocations a JOIN workloads w ON w.allocation_id = a.id
     WHERE a.gpu_model = $1 AND a.kind = 'reserved' AND w.state IN ('queued', 'admitted', 'running')
     ORDER BY a.id`,
    [gpuModel],
  );
  return {
    nodeReservations: windows.map((row) => ({
      nodeId: row.node_id,
      allocationId: row.allocation_id,
      startsAt: row.starts_at,
      endsAt: row.ends_at,
    })),
    reservedAllocationIds: owners.map((row) => row.id),
  };
}

/** The partition's server size. Node pools of one model normally agree; the largest wins if not. */
async function loadGpusPerNode(manager: EntityManager, gpuModel: string): Promise<number> {
  const rows = await manager.query<{ gpus_per_node: number | null }[]>(
    'SELECT max(gpus_per_node) AS gpus_per_node FROM node_pools WHERE gpu_model = $1',
    [gpuModel],
  );
  return rows[0]?.gpus_per_node ?? 0;
}

async function loadNodes(manager: EntityManager, gpuModel: string): Promise<PoolNode[]> {
  // Interconnect domains are named per cluster: the cluster id keeps two clusters' "d1" apart.
  const rows = await manager.query<
    { id: string; domain: string; gpus_total: number; gpus_allocated: number; state: string }[]
  >(
    `SELECT id, cluster_id || '/' || interconnect_domain AS domain, gpus_total, gpus_allocated, state
     FROM nodes WHERE gpu_model = $1 ORDER BY id`,
    [gpuModel],
  );
  return rows.map((row) => ({
    id: row.id,
    domain: row.domain,
    gpusTotal: row.gpus_total,
    gpusFree: Math.max(0, row.gpus_total - row.gpus_allocated),
    state: row.state === 'up' || row.state === 'draining' ? row.state : 'down',
  }));
}

interface QueuedRow {
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

async function loadQueued(manager: EntityManager, gpuModel: string): Promise<QueuedRow[]> {
  return manager.query<QueuedRow[]>(
    `SELECT id, allocation_id, project_id, program_id, gpus, walltime_seconds, priority_tier, queued_at,
            attempt, wait_reason, wait_detail, queue_position, estimated_start_at
     FROM workloads WHERE gpu_model = $1 AND state = 'queued'
     ORDER BY queued_at, id`,
    [gpuModel],
  );
}

interface RunningRow {
  id: string;
  allocation_id: string;
  project_id: string;
  program_id: string;
  gpus: number;
  attempt: number;
  admitted_at: Date;
  expected_end_at: Date;
  borrowed: boolean;
  node_ids: string[] | null;
  node_gpus: number[] | null;
}

async function loadRunning(manager: EntityManager, gpuModel: string): Promise<RunningRow[]> {
  return manager.query<RunningRow[]>(
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
 * Every allocation with queued, admitted or running work in the partition: remaining quota is the
 * ledger balance of `allocation:<id>` (one grouped query over the entries of those accounts).
 */
async function loadAllocations(
  manager: EntityManager,
  gpuModel: string,
  now: Date,
): Promise<Map<string, AllocationQuota>> {
  const rows = await manager.query<
    {
      id: string;
      max_concurrent_gpus: number;
      admitting: boolean;
      gpus_in_use: number;
      remaining: string;
    }[]
  >(
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
  return new Map(
    rows.map((row) => [
      row.id,
      {
        allocationId: row.id,
        remainingGpuSeconds: BigInt(row.remaining),
        maxConcurrentGpus: row.max_concurrent_gpus,
        gpusInUse: row.gpus_in_use,
        admitting: row.admitting,
      },
    ]),
  );
}

/**
 * Each program's share of the model's capacity: its budget for the model over the budgets of all
 * programs with one, in basis points, truncated (so the shares never sum above 10,000).
 */
async function loadEntitlements(manager: EntityManager, gpuModel: string): Promise<Map<string, number>> {
  const rows = await manager.query<{ program_id: string; budget: string }[]>(
    `SELECT program_id, budget_gpu_seconds::text AS budget FROM program_budgets
     WHERE gpu_model = $1 AND budget_gpu_seconds > 0`,
    [gpuModel],
  );
  const total = rows.reduce((sum, row) => sum + BigInt(row.budget), 0n);
  const result = new Map<string, number>();
  if (total === 0n) return result;
  for (const row of rows) {
    result.set(row.program_id, Number((BigInt(row.budget) * BASIS_POINTS) / total));
  }
  return result;
}

/**
 * Recent usage per project: GPU-seconds run, each workload's weighed by 2^(−age / half-life) where
 * age is the time since it ended (0 while it runs). Ended workloads older than
 * FAIR_SHARE_WINDOW_HALF_LIVES half-lives are left out. Computed in SQL: one row per project.
 */
async function loadProjectUsage(
  manager: EntityManager,
  gpuModel: string,
  now: Date,
  halfLifeSeconds: number,
): Promise<Map<string, number>> {
  const rows = await manager.query<{ project_id: string; usage: number }[]>(
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
    [gpuModel, now, halfLifeSeconds, FAIR_SHARE_WINDOW_HALF_LIVES],
  );
  return new Map(rows.filter((row) => row.usage > 0).map((row) => [row.project_id, row.usage]));
}

/** Each project's fair-share weight: GPU-seconds granted to its allocations on this model (ledger). */
async function loadProjectShares(manager: EntityManager, gpuModel: string): Promise<Map<string, number>> {
  const rows = await manager.query<{ project_id: string; granted: string }[]>(
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
  return new Map(rows.map((row) => [row.project_id, Number(row.granted)]));
}
