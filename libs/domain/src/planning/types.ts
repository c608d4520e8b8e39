import type { SectorTargets } from '../programs/program.js';

/**
 * Types of the reservation planner (issue 7): reserved allocation lines — N whole servers of one
 * GPU model for a window — placed on a capacity calendar.
 *
 * Time: every instant is a whole number of Unix seconds (UTC) and every interval is half-open
 * [start, end): `start` is inside, `end` is the first second outside. Seconds match the ledger's
 * GPU-seconds, so a reservation's size is `servers × gpusPerNode × (end − start)` GPU-seconds with no
 * rounding. The planner itself only compares and subtracts integers, so tests use small numbers.
 */

export const SECTORS = ['national', 'industry', 'academia'] as const;
/** Which part of the government plan a line counts toward. */
export type Sector = (typeof SECTORS)[number];

/** The government plan: 50% national projects, 30% industry, 20% academia. */
export const DEFAULT_SECTOR_TARGETS: Readonly<SectorTargets> = Object.freeze({
  national: 50,
  industry: 30,
  academia: 20,
});

/** Half-open [start, end) in whole Unix seconds. */
export interface SecondsInterval {
  start: number;
  end: number;
}

/** A span when a node serves nothing: down, in maintenance, drained. */
export interface UnavailableInterval extends SecondsInterval {
  /** For messages only, e.g. 'maintenance' or 'down'. */
  reason?: string;
}

/** One server as the calendar sees it. */
export interface PlanningNode {
  id: string;
  clusterId: string;
  gpuModel: string;
  gpusPerNode: number;
  /**
   * Interconnect domain inside the cluster (e.g. one InfiniBand leaf group). Domain names are scoped
   * to their cluster: 'd01' in two clusters is two domains.
   */
  interconnectDomain: string;
  unavailable?: readonly UnavailableInterval[];
}

/**
 * A reservation already on the calendar: the line holds every node in `nodeIds` for [start, end).
 * After an early release or a move a line can have several records (one per set of nodes and span).
 * `programId` and `sector` make the record count toward its program's sector use; without them it
 * only takes physical capacity.
 */
export interface PlacedReservation {
  lineId: string;
  nodeIds: readonly string[];
  start: number;
  end: number;
  programId?: string;
  sector?: Sector;
  sameInterconnectDomain?: boolean;
}

/** An approved reserved line waiting for nodes and a window. */
export interface ReservationRequest {
  lineId: string;
  programId: string;
  sector: Sector;
  gpuModel: string;
  /** Whole servers (nodes), at least 1. */
  servers: number;
  /** The earliest start the applicant accepts; the planner never starts a line before it. */
  requestedStart: number;
  /** Give exactly one of durationSeconds and requestedEnd (then duration = requestedEnd − requestedStart). */
  durationSeconds?: number;
  requestedEnd?: number;
  /**
   * The latest acceptable end, e.g. the program window's end. A line whose earliest slot ends later is
   * waitlisted with that slot offered, never shortened to fit. Absent: any end inside the calendar.
   */
  latestEnd?: number;
  /** All servers in one interconnect domain (multi-node training). */
  sameInterconnectDomain?: boolean;
  /** Planning order: lower first (e.g. approval time in seconds); ties by lineId. */
  orderKey: number;
}

/**
 * One month of the calendar, [start, end) in Unix seconds. Sector targets and utilization are
 * counted per month; `seoulPlanningMonths` builds Asia/Seoul calendar months. The months must be
 * contiguous: together they are the calendar's horizon, and no reservation is placed outside it.
 */
export interface PlanningMonth {
  /** 'YYYY-MM' for Seoul calendar months; any label for other calendars. */
  key: string;
  start: number;
  end: number;
}

/** The calendar the planner works on: capacity, what is already placed, and the rules. */
export interface PlanningCalendar {
  nodes: readonly PlanningNode[];
  reservations: readonly PlacedReservation[];
  months: readonly PlanningMonth[];
  /** No new reservation starts before this (e.g. now). Default: the first month's start. */
  plannableFrom?: number;
  /** Sector targets per programId, whole percents summing to 100; absent programs use 50/30/20. */
  sectorTargets?: Readonly<Record<string, SectorTargets>>;
  /** false plans without sector targets (what-if comparisons, the benchmark's attribution). Default true. */
  enforceSectorTargets?: boolean;
}

export interface PlanningInput extends PlanningCalendar {
  requests: readonly ReservationRequest[];
}

/** Why a line is waitlisted, as a stable code. */
export type WaitlistCode =
  /** The pool has no node of the requested GPU model. */
  | 'NO_NODES_OF_MODEL'
  /** More servers than the largest cluster of the model has (a line's nodes share one cluster). */
  | 'LINE_LARGER_THAN_CLUSTER'
  /** More servers than the largest interconnect domain of the model has, with sameInterconnectDomain. */
  | 'LINE_LARGER_THAN_DOMAIN'
  /** A slot exists, but it ends after the line's latestEnd; earliestFeasibleStart is that slot. */
  | 'ENDS_AFTER_LATEST_END'
  /** No slot of the full duration before the calendar ends. */
  | 'NO_SLOT_BEFORE_HORIZON'
  /** First-come-first-served baseline only: the servers are not free at the requested start. */
  | 'BUSY_AT_REQUESTED_START';

/** What held a waitlisted line back. */
export type WaitlistCause = 'pool_shape' | 'capacity' | 'sector_target';

export interface PlacedOutcome {
  status: 'placed';
  lineId: string;
  programId: string;
  sector: Sector;
  gpuModel: string;
  servers: number;
  /**
   * 1: decided within the sector's own target share (or with targets off); 2: a line the share held
   * back, planned after every round-1 line with borrowing (sector-ledger.ts).
   */
  round: 1 | 2;
  clusterId: string;
  /** Sorted by node id. */
  nodeIds: string[];
  start: number;
  /** Always start + the requested duration: a reservation is never shortened. */
  end: number;
  /** start − requestedStart. */
  delaySeconds: number;
}

export interface WaitlistedOutcome {
  status: 'waitlisted';
  lineId: string;
  programId: string;
  sector: Sector;
  gpuModel: string;
  servers: number;
  round: 1 | 2;
  /** The earliest start the line could have on this calendar, or null when none before the horizon. */
  earliestFeasibleStart: number | null;
  code: WaitlistCode;
  blockedBy: WaitlistCause;
  /** A sentence for an admin or applicant: what blocked the line and what would let it in. */
  reason: string;
}

export type RequestOutcome = PlacedOutcome | WaitlistedOutcome;

/** Reserved GPU-seconds against capacity for one GPU model in one month, exact. */
export interface UtilizationCell {
  gpuModel: string;
  month: string;
  /** Reserved node time that falls on available node time, × GPUs per node. */
  reservedGpuSeconds: bigint;
  /** Node time of the month minus unavailable intervals, × GPUs per node. */
  capacityGpuSeconds: bigint;
  /** reserved ÷ capacity rounded half up to 4 decimals, for display only (0 when capacity is 0). */
  ratio: number;
  /** reservedGpuSeconds split by the reservations' sectors; records without a sector are 'unassigned'. */
  reservedBySector: Record<Sector | 'unassigned', bigint>;
}

export interface PlanResult {
  /** One per request, in (orderKey, lineId) order. */
  outcomes: RequestOutcome[];
  /** The calendar after planning: the input reservations, then the new ones in the order they were placed (round 1, then round 2). */
  reservations: PlacedReservation[];
  utilization: UtilizationCell[];
}
