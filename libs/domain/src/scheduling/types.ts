/**
 * The scheduling contract between the pure cycle (this folder) and the scheduler process that
 * loads a partition from PostgreSQL, calls `runSchedulingCycle`, and persists the decision.
 * One partition = one GPU model (all its nodes, across clusters).
 */

export type NodeState = 'up' | 'draining' | 'down';

export interface PoolNode {
  id: string;
  /** Interconnect domain: multi-node workloads take whole nodes inside one domain. */
  domain: string;
  gpusTotal: number;
  /** GPUs not held by admitted or running workloads. */
  gpusFree: number;
  /** Only `up` nodes take new placements; draining nodes keep what runs on them. */
  state: NodeState;
}

export interface PlacementPart {
  nodeId: string;
  gpus: number;
}

export interface QueuedWorkload {
  id: string;
  allocationId: string;
  projectId: string;
  programId: string;
  gpus: number;
  walltimeSeconds: number;
  priorityTier: number;
  /** Age for ordering (kept across preemption). */
  queuedAt: Date;
}

export interface RunningWorkload {
  id: string;
  allocationId: string;
  projectId: string;
  programId: string;
  gpus: number;
  placement: PlacementPart[];
  admittedAt: Date;
  /** admittedAt (or startedAt) + walltime: when its GPUs are free at the latest. */
  expectedEndAt: Date;
  /** Admitted on capacity beyond its program's entitlement: preemptible. */
  borrowed: boolean;
}

export interface AllocationQuota {
  allocationId: string;
  /** Ledger balance of the allocation (granted − held − consumed). */
  remainingGpuSeconds: bigint;
  maxConcurrentGpus: number;
  /** GPUs of its admitted and running workloads. */
  gpusInUse: number;
  /** active and inside its window; others admit nothing. */
  admitting: boolean;
}

export interface SchedulingSettings {
  /** Half-life of recent usage in fair share. */
  fairShareHalfLifeSeconds: number;
  backfill: boolean;
  preemption: boolean;
  /** Estimated starts are computed for the first N queued workloads only (cost bound). */
  estimateLimit: number;
  /**
   * Queue order: 'fair_share' (default, see `orderQueue`) or 'fifo' — oldest queuedAt first, then
   * workload id; no entitlement, fair share or tiers (a baseline for the trace replay).
   */
  ordering?: 'fair_share' | 'fifo';
  /**
   * Starvation guard (fair_share ordering): a workload queued at least this long goes before every
   * workload that is not, oldest first, whatever its program's entitlement or project's usage. It
   * then becomes the head that backfill protects, so no workload waits forever behind a stream of
   * more deserving arrivals. Absent or ≤ 0: off.
   */
  starvationAfterSeconds?: number;
  /**
   * false: `waiting` is left empty and the walk stops as soon as nothing further can be admitted
   * (for callers that only need admissions, preemptions and the reservation, e.g. the trace
   * replay). Default true.
   */
  reportWaiting?: boolean;
}

export interface PartitionSnapshot {
  gpuModel: string;
  gpusPerNode: number;
  now: Date;
  nodes: PoolNode[];
  queued: QueuedWorkload[];
  running: RunningWorkload[];
  allocations: ReadonlyMap<string, AllocationQuota>;
  /** Each program's entitled share of this partition's capacity, in basis points (sum ≤ 10000). */
  entitlementsBasisPoints: ReadonlyMap<string, number>;
  /** Each project's recent usage (GPU-seconds, already decayed by the caller or by `decayUsage`). */
  projectUsage: ReadonlyMap<string, number>;
  /** Each project's share weight inside fair share (e.g. its granted GPU-seconds on this model). */
  projectShares: ReadonlyMap<string, number>;
  settings: SchedulingSettings;
  /**
   * Optional, for callers that keep their queue across cycles (the trace replay): the queue grouped
   * into lanes that each hold one (program, project, priority tier),
   * every lane in (queuedAt, id) order. The fair-share order is then a lazy merge of the lanes, so
   * a cycle costs O(lanes + the workloads it walks) instead of ordering the whole queue; the order
   * is the same as from `queued` (a property test checks it). `checkQueueLanes` validates them
   * (O(queue): for tests and debugging). With lanes, `queued` is either the same workloads or
   * empty (the lanes are then the queue; keeping both costs the caller O(queue) a cycle). The
   * 'fifo' ordering ignores lanes and reads `queued`.
   */
  queueLanes?: readonly QueueLane[];
  /**
   * Reserved servers (see reserved-capacity.ts): nodes held by reserved allocations over windows.
   * Absent or empty: one plain cycle over all nodes.
   */
  nodeReservations?: readonly NodeReservation[];
  /**
   * Reserved allocations of this partition, whether or not they hold nodes now: their workloads
   * run only on their reserved nodes, never on the shared ones.
   */
  reservedAllocationIds?: readonly string[];
}

/** A node held by a reserved allocation over [startsAt, endsAt). */
export interface NodeReservation {
  nodeId: string;
  allocationId: string;
  startsAt: Date;
  endsAt: Date;
}

/** See `PartitionSnapshot.queueLanes`. */
export type QueueLane = readonly QueuedWorkload[];

export type WaitReason =
  | 'allocation_not_admitting'
  | 'quota'
  | 'concurrency_cap'
  | 'capacity'
  | 'reserved_for_head'
  | 'behind_others';

export interface Admission {
  workloadId: string;
  placement: PlacementPart[];
  /** gpus × walltime, held on the allocation at admission. */
  holdGpuSeconds: bigint;
  borrowed: boolean;
  backfilled: boolean;
}

export interface Preemption {
  workloadId: string;
  /** The program whose entitlement needed the GPUs back. */
  forProgramId: string;
  /** Set when the GPUs were lent from reserved servers and their owner (this allocation) reclaims them. */
  reclaimedForAllocationId?: string;
}

export interface Waiting {
  workloadId: string;
  reason: WaitReason;
  /** A sentence for the person who submitted it. */
  detail: string;
  /** 1-based position in the partition's order. */
  position: number;
  estimatedStartAt: Date | null;
}

export interface CycleDecision {
  admitted: Admission[];
  preempted: Preemption[];
  waiting: Waiting[];
  /** EASY backfill: the head workload that did not fit, and when it is guaranteed to start. */
  reservation: { workloadId: string; startAt: Date } | null;
}
