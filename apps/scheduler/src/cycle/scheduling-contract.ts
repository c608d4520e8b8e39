/**
 * The one place the scheduler process imports the pure cycle's contract from (libs/domain
 * scheduling/types.ts). The cycle function itself is injected into CycleService: scheduler.ts passes
 * `runSchedulingCycle`, tests may pass another.
 */
import type { CycleDecision, PartitionSnapshot } from '#domain';

export type {
  Admission,
  AllocationQuota,
  CycleDecision,
  NodeReservation,
  PartitionSnapshot,
  PlacementPart,
  PoolNode,
  Preemption,
  QueuedWorkload,
  RunningWorkload,
  SchedulingSettings,
  WaitReason,
  Waiting,
} from '#domain';

/** `runSchedulingCycle` of libs/domain: pure, synchronous, no I/O. */
export type SchedulingCycle = (snapshot: PartitionSnapshot) => CycleDecision;
