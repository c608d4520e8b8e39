import type { SectorTargets } from '../../programs/program.js';
import {
  DEFAULT_SECTOR_TARGETS,
  SECTORS,
  type PlacedReservation,
  type PlanningInput,
  type PlanningNode,
  type ReservationRequest,
} from '../types.js';

/**
 * Brute-force reference for the planner's tests: written from the rules, second by second and subset
 * by subset, sharing no code with the planner. Only for tiny calendars.
 */

function duration(request: ReservationRequest): number {
  return request.durationSeconds ?? (request.requestedEnd as number) - request.requestedStart;
}

function overlaps(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  return aStart < bEnd && bStart < aEnd;
}

/** True when nothing occupies the node in [start, end): no reservation, no unavailable interval. */
export function oracleNodeFree(
  node: PlanningNode,
  reservations: readonly PlacedReservation[],
  start: number,
  end: number,
): boolean {
  if ((node.unavailable ?? []).some((span) => overlaps(span.start, span.end, start, end))) return false;
  return !reservations.some((r) => r.nodeIds.includes(node.id) && overlaps(r.start, r.end, start, end));
}

function* subsets<T>(items: readonly T[], size: number, from = 0): Generator<T[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = from; i <= items.length - size; i += 1) {
    for (const rest of subsets(items, size - 1, i + 1)) yield [items[i], ...rest];
  }
}

/** Seconds of [from, to) at which the node is not in an unavailable interval, counted one by one. */
function availableSecondsByCounting(node: PlanningNode, from: number, to: number): number {
  let seconds = 0;
  for (let t = from; t < to; t += 1) {
    if (!(node.unavailable ?? []).some((span) => span.start <= t && t < span.end)) seconds += 1;
  }
  return seconds;
}

export type OracleRule = 'none' | 'own_share' | 'borrowing';

/**
 * The sector rule, from its definition, in every month the line touches: round 1 ('own_share')
 * U(s) + a ≤ own(s); round 2 ('borrowing') U(s) + a ≤ max(own(s), C − Σ_{x≠s} max(U(x), min(own(x), U(x) + P(x)))).
 */
export function oracleSectorRuleAllows(
  input: PlanningInput,
  reservations: readonly PlacedReservation[],
  pending: readonly ReservationRequest[],
  request: ReservationRequest,
  start: number,
  rule: Exclude<OracleRule, 'none'>,
): boolean {
  const end = start + duration(request);
  const targets: SectorTargets = input.sectorTargets?.[request.programId] ?? DEFAULT_SECTOR_TARGETS;
  const modelNodes = input.nodes.filter((node) => node.gpuModel === request.gpuModel);
  const modelNodeIds = new Set(modelNodes.map((node) => node.id));
  for (const month of input.months) {
    const touched = Math.min(end, month.end) - Math.max(start, month.start);
    if (touched <= 0) continue;
    const capacity = modelNodes.reduce(
      (sum, node) => sum + availableSecondsByCounting(node, month.start, month.end),
      0,
    );
    const inMonth = (a: number, b: number): number =>
      Math.max(0, Math.min(b, month.end) - Math.max(a, month.start));
    const used = SECTORS.map((sector) =>
      reservations
        .filter(
          (r) => r.programId === request.programId && r.sector === sector && modelNodeIds.has(r.nodeIds[0]),
        )
        .reduce((sum, r) => sum + r.nodeIds.length * inMonth(r.start, r.end), 0),
    );
    const waiting = SECTORS.map((sector) =>
      pending
        .filter(
          (q) => q.programId === request.programId && q.sector === sector && q.gpuModel === request.gpuModel,
        )
        .reduce((sum, q) => sum + q.servers * inMonth(q.requestedStart, q.requestedStart + duration(q)), 0),
    );
    const own = SECTORS.map((sector) => Math.floor((capacity * targets[sector]) / 100));
    const s = SECTORS.indexOf(request.sector);
    let heldByOthers = 0;
    SECTORS.forEach((_, x) => {
      if (x !== s) heldByOthers += Math.max(used[x], Math.min(own[x], used[x] + waiting[x]));
    });
    const allowance = rule === 'own_share' ? own[s] : Math.max(own[s], capacity - heldByOthers);
    if (used[s] + request.servers * touched > allowance) return false;
  }
  return true;
}

/** Whether some subset of `servers` nodes of the model, in one cluster (and domain), is free for [start, end). */
export function oracleNodesFit(
  input: PlanningInput,
  reservations: readonly PlacedReservation[],
  request: ReservationRequest,
  start: number,
): boolean {
  const end = start + duration(request);
  const nodes = input.nodes.filter((node) => node.gpuModel === request.gpuModel);
  for (const subset of subsets(nodes, request.servers)) {
    if (new Set(subset.map((node) => node.clusterId)).size !== 1) continue;
    if (request.sameInterconnectDomain && new Set(subset.map((node) => node.interconnectDomain)).size !== 1)
      continue;
    if (subset.every((node) => oracleNodeFree(node, reservations, start, end))) return true;
  }
  return false;
}

/**
 * The earliest start of `request` under `rule` by trying every second from max(requestedStart,
 * plannableFrom) to the last start that ends inside the calendar, and every node subset; null when none.
 */
export function oracleEarliestStart(
  input: PlanningInput,
  reservations: readonly PlacedReservation[],
  pending: readonly ReservationRequest[],
  request: ReservationRequest,
  rule: OracleRule,
): number | null {
  const horizonEnd = input.months[input.months.length - 1].end;
  const from = Math.max(request.requestedStart, input.plannableFrom ?? input.months[0].start);
  for (let start = from; start + duration(request) <= horizonEnd; start += 1) {
    if (rule !== 'none' && !oracleSectorRuleAllows(input, reservations, pending, request, start, rule))
      continue;
    if (oracleNodesFit(input, reservations, request, start)) return start;
  }
  return null;
}
