import type {
  PartitionAllocationRow,
  PartitionNodeRow,
  PartitionProgramBudgetRow,
  PartitionProjectGrantRow,
  PartitionProjectUsageRow,
  PartitionQueuedRow,
  PartitionReservationWindowRow,
  PartitionRunningRow,
  PartitionSnapshotRepository,
  Tx,
} from '#persistence';
import type {
  AllocationQuota,
  NodeReservation,
  PoolNode,
  QueuedWorkload,
  RunningWorkload,
  PartitionSnapshot,
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

/** The partition's rows as PartitionSnapshotRepository reads them, before shaping. */
export interface PartitionRows {
  gpusPerNode: number | null;
  nodes: PartitionNodeRow[];
  queued: PartitionQueuedRow[];
  running: PartitionRunningRow[];
  allocations: PartitionAllocationRow[];
  programBudgets: PartitionProgramBudgetRow[];
  projectUsage: PartitionProjectUsageRow[];
  projectGrants: PartitionProjectGrantRow[];
  reservationWindows: PartitionReservationWindowRow[];
  reservedAllocationIds: string[];
}

/**
 * Loads one GPU-model partition from PostgreSQL, inside the cycle's transaction and under its
 * partition lock, so nodes, placements, holds and the queue are one consistent picture (the
 * statements are PartitionSnapshotRepository's, one per kind of row), then shapes the rows.
 */
export async function loadPartition(
  snapshots: PartitionSnapshotRepository,
  tx: Tx,
  gpuModel: string,
  now: Date,
  settings: SchedulingSettings,
): Promise<LoadedPartition> {
  // Sequential on purpose: one transaction's connection runs one query at a time.
  const gpusPerNode = await snapshots.gpusPerNode(tx, gpuModel);
  const nodes = await snapshots.nodes(tx, gpuModel);
  const queued = await snapshots.queued(tx, gpuModel);
  const running = await snapshots.running(tx, gpuModel);
  const allocations = await snapshots.allocations(tx, gpuModel, now);
  const programBudgets = await snapshots.programBudgets(tx, gpuModel);
  const projectUsage = await snapshots.projectUsage(
    tx,
    gpuModel,
    now,
    settings.fairShareHalfLifeSeconds,
    FAIR_SHARE_WINDOW_HALF_LIVES,
  );
  const projectGrants = await snapshots.projectGrants(tx, gpuModel);
  const reservationWindows = await snapshots.reservationWindows(tx, gpuModel, now);
  const reservedAllocationIds = await snapshots.reservedAllocationsWithWork(tx, gpuModel);
  return shapePartition(
    {
      gpusPerNode,
      nodes,
      queued,
      running,
      allocations,
      programBudgets,
      projectUsage,
      projectGrants,
      reservationWindows,
      reservedAllocationIds,
    },
    gpuModel,
    now,
    settings,
  );
}

/** The cycle's snapshot of a partition, and what it remembers to persist its decisions. Pure. */
export function shapePartition(
  rows: PartitionRows,
  gpuModel: string,
  now: Date,
  settings: SchedulingSettings,
): LoadedPartition {
  const queuedMeta = new Map<string, QueuedMeta>();
  const allocationOf = new Map<string, string>();
  const queued: QueuedWorkload[] = rows.queued.map((row) => {
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
  const running: RunningWorkload[] = rows.running.map((row) => {
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
      // Node pools of one model normally agree on the server size; the largest wins if not.
      gpusPerNode: rows.gpusPerNode ?? 0,
      now,
      nodes: rows.nodes.map(toPoolNode),
      queued,
      running,
      allocations: allocationQuotas(rows.allocations),
      entitlementsBasisPoints: entitlements(rows.programBudgets),
      projectUsage: new Map(
        rows.projectUsage.filter((row) => row.usage > 0).map((row) => [row.project_id, row.usage]),
      ),
      // Each project's fair-share weight: GPU-seconds granted to its allocations on this model.
      projectShares: new Map(rows.projectGrants.map((row) => [row.project_id, Number(row.granted)])),
      settings,
      nodeReservations: rows.reservationWindows.map(toNodeReservation),
      reservedAllocationIds: rows.reservedAllocationIds,
    },
    queuedMeta,
    runningAttempt,
    allocationOf,
  };
}

function toPoolNode(row: PartitionNodeRow): PoolNode {
  return {
    id: row.id,
    domain: row.domain,
    gpusTotal: row.gpus_total,
    gpusFree: Math.max(0, row.gpus_total - row.gpus_allocated),
    state: row.state === 'up' || row.state === 'draining' ? row.state : 'down',
  };
}

/** Remaining quota is the ledger balance of `allocation:<id>`. */
function allocationQuotas(rows: PartitionAllocationRow[]): Map<string, AllocationQuota> {
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
function entitlements(rows: PartitionProgramBudgetRow[]): Map<string, number> {
  const total = rows.reduce((sum, row) => sum + BigInt(row.budget), 0n);
  const result = new Map<string, number>();
  if (total === 0n) return result;
  for (const row of rows) {
    result.set(row.program_id, Number((BigInt(row.budget) * BASIS_POINTS) / total));
  }
  return result;
}

/**
 * Reserved servers (issue 7): each node's reservation windows; the reserved allocations' work runs
 * only on their reserved nodes (libs/domain reserved-capacity.ts).
 */
function toNodeReservation(row: PartitionReservationWindowRow): NodeReservation {
  return {
    nodeId: row.node_id,
    allocationId: row.allocation_id,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
  };
}
