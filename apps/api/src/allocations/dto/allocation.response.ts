import { toAmount, type AllocationBalance, type GpuAmount, type ReservedUtilization } from '#domain';
import type { AllocationEntity } from '#persistence';
import type { AllocationRead } from '#application';
import {
  reservationStandingView,
  type ReservationStandingView,
} from '../../planning/dto/reservation.response.js';

export interface AllocationView {
  id: string;
  projectId: string;
  programId: string;
  requestId: string;
  requestLineId: string;
  gpuModel: string;
  /** `budget` (GPU-seconds through the shared queue) or `reserved` (whole servers for the window). */
  kind: string;
  maxConcurrentGpus: number;
  startsAt: Date;
  endsAt: Date;
  /** active, exhausted, expired or suspended. */
  status: string;
  /** Why it last changed status (e.g. "suspended: …", "exhausted: …"); null while it never has. */
  statusReason: string | null;
  statusChangedAt: Date | null;
  priorityTier: number;
  /** Reserved allocations: whole servers held on the capacity calendar; null for budget ones. */
  servers: number | null;
  sameInterconnectDomain: boolean;
  /**
   * Reserved allocations: the reservation (cluster, nodes, window) or where its plan stands (pending,
   * waitlisted with the earliest feasible start and why); null for budget allocations.
   */
  reservation?: ReservationStandingView | null;
  /**
   * Reserved allocations (GET /v1/allocations/:id and lists): use of the server time reserved so far —
   * `usedGpuSeconds` (metered on the allocation) ÷ `reservedGpuSeconds` (its servers × GPUs per node ×
   * elapsed seconds of its window; a server released early counts until its release), exact integers
   * as decimal strings, and `ratio` rounded half up to 4 decimals for display (null while nothing
   * reserved has elapsed, e.g. waitlisted). The programs' recall rules judge reserved allocations on
   * it. Null for budget allocations.
   */
  utilization?: ReservedUtilizationView | null;
  /** Sum of grant postings into the allocation. */
  granted: GpuAmount;
  /** Admitted workloads not yet metered. */
  held: GpuAmount;
  /** Metered usage. */
  consumed: GpuAmount;
  /** Returned to the program by expiry or recall. */
  returned: GpuAmount;
  /** The allocation account's balance; negative is an overdraft (usage beyond the grant). */
  remaining: GpuAmount;
  createdAt: Date;
}

export interface ReservedUtilizationView {
  usedGpuSeconds: string;
  reservedGpuSeconds: string;
  ratio: number | null;
}

export function reservedUtilizationView(utilization: ReservedUtilization): ReservedUtilizationView {
  return {
    usedGpuSeconds: utilization.usedGpuSeconds.toString(),
    reservedGpuSeconds: utilization.reservedGpuSeconds.toString(),
    ratio: utilization.ratio,
  };
}

export function allocationView(allocation: AllocationEntity, balance: AllocationBalance): AllocationView {
  return {
    id: allocation.id,
    projectId: allocation.projectId,
    programId: allocation.programId,
    requestId: allocation.requestId,
    requestLineId: allocation.requestLineId,
    gpuModel: allocation.gpuModel,
    kind: allocation.kind,
    maxConcurrentGpus: allocation.maxConcurrentGpus,
    startsAt: allocation.startsAt,
    endsAt: allocation.endsAt,
    status: allocation.status,
    statusReason: allocation.statusReason,
    statusChangedAt: allocation.statusChangedAt,
    priorityTier: allocation.priorityTier,
    servers: allocation.servers,
    sameInterconnectDomain: allocation.sameInterconnectDomain,
    granted: toAmount(balance.granted),
    held: toAmount(balance.held),
    consumed: toAmount(balance.consumed),
    returned: toAmount(balance.returned),
    remaining: toAmount(balance.remaining),
    createdAt: allocation.createdAt,
  };
}

/** An allocation as AllocationQueries read it: its row, balance, calendar standing and utilization. */
export function allocationReadView(read: AllocationRead): AllocationView {
  return {
    ...allocationView(read.allocation, read.balance),
    reservation: read.standing ? reservationStandingView(read.standing) : null,
    utilization: read.usage ? reservedUtilizationView(read.usage.utilization) : null,
  };
}
