import { NodeCalendar } from './calendar.js';
import { findEarliestSlot, type SearchStats, type Slot } from './earliest-start.js';
import { formatInstantSeconds, formatSeconds, joinWords } from './format.js';
import { SectorLedger } from './sector-ledger.js';
import {
  SECTORS,
  type PlacedOutcome,
  type PlacedReservation,
  type PlanningCalendar,
  type PlanningInput,
  type PlanResult,
  type RequestOutcome,
  type ReservationRequest,
  type UtilizationCell,
  type WaitlistCause,
  type WaitlistCode,
  type WaitlistedOutcome,
} from './types.js';
import { computeUtilization } from './utilization.js';
import {
  assertValid,
  compareRequests,
  planningCalendarProblems,
  planningInputProblems,
  requestDuration,
} from './validation.js';

/**
 * The reservation planner: turns approved reserved lines into nodes and windows on the capacity
 * calendar. Pure — no I/O, no clock, no randomness; the same input gives the same plan, whatever the
 * order of the input arrays — so a what-if is just a call whose result is not saved.
 *
 * Rules:
 * - A line's nodes all belong to one cluster (and to one interconnect domain when
 *   sameInterconnectDomain), are of the requested GPU model, and are held for the whole window. A
 *   node serves at most one reservation at any instant and nothing during its unavailable intervals.
 * - The window is [start, start + duration) with the earliest feasible start ≥ max(requestedStart,
 *   plannableFrom), inside the calendar months, within the sector rule of the round. The window is
 *   never shortened: a line that cannot end by its latestEnd is waitlisted with the start it could
 *   have, and one with no slot before the calendar ends is waitlisted with null.
 * - Two rounds, each in (orderKey, lineId) order; every line sees the calendar left by the lines
 *   planned before it, and nothing placed earlier moves (sector-ledger.ts has the exact rule):
 *   round 1 — every line whose earliest start within its sector's own target share is also its
 *   earliest start with no sector rule at all is decided there (placed or waitlisted);
 *   round 2 — the lines the share held back, with borrowing of what other sectors neither use nor
 *   still ask for. So an owner's line within its share is never displaced by a borrower.
 *   With enforceSectorTargets false there is one round and no sector rule.
 * - Node choice and tie-breaks: findEarliestSlot (earliest-start.ts).
 */
export function planReservations(input: PlanningInput): PlanResult {
  assertValid(planningInputProblems(input));
  const session = new PlanningSession(input);
  const ordered = [...input.requests].sort(compareRequests);
  const decided = new Map<string, RequestOutcome>();
  const reservations: PlacedReservation[] = [...input.reservations];
  const decide = (request: ReservationRequest, outcome: RequestOutcome): void => {
    decided.set(request.lineId, outcome);
    if (outcome.status === 'placed') reservations.push(session.commit(request, outcome));
  };
  const borrowing: ReservationRequest[] = [];
  for (const request of ordered) {
    const outcome = session.planWithinShare(request);
    if (outcome) decide(request, outcome);
    else borrowing.push(request);
  }
  for (const request of borrowing) session.addPending(request, 1);
  for (const request of borrowing) {
    session.addPending(request, -1);
    decide(request, session.planBorrowing(request));
  }
  const outcomes = ordered.map((request) => decided.get(request.lineId) as RequestOutcome);
  return { outcomes, reservations, utilization: session.utilization(reservations) };
}

export interface WhatIfResult extends PlanResult {
  /** Utilization of the calendar as it is, before any of the requests. */
  utilizationBefore: UtilizationCell[];
}

/** What-if: plans the requests on the calendar and reports before and after; nothing is changed or saved. */
export function planWhatIf(input: PlanningInput): WhatIfResult {
  const plan = planReservations(input);
  const session = new PlanningSession(input);
  return { ...plan, utilizationBefore: session.utilization(input.reservations) };
}

/**
 * Re-plans a waitlist after capacity changed (a release, a recall, nodes back up): the calendar as
 * it is now and the waitlisted lines in their original order. A thin name for planReservations, so
 * the caller's intent is visible; compare outcomes to see which lines got in.
 */
export function replanWaitlist(
  calendar: PlanningCalendar,
  waitlist: readonly ReservationRequest[],
): PlanResult {
  return planReservations({ ...calendar, requests: waitlist });
}

/** Utilization of a calendar as it is. */
export function calendarUtilization(calendar: PlanningCalendar): UtilizationCell[] {
  assertValid(planningCalendarProblems(calendar));
  return new PlanningSession(calendar).utilization(calendar.reservations);
}

/** Which sector bound a search applies (sector-ledger.ts). */
export type SectorRule = 'none' | 'own_share' | 'borrowing';

/** Calendar, sector ledger and months for one planning run; internal to the planning module. */
export class PlanningSession {
  readonly calendar: NodeCalendar;
  readonly ledger: SectorLedger;
  readonly months: PlanningCalendar['months'];
  readonly plannableFrom: number;
  readonly enforceSectorTargets: boolean;

  constructor(input: PlanningCalendar) {
    this.months = input.months;
    const horizonStart = input.months[0].start;
    const horizonEnd = input.months[input.months.length - 1].end;
    this.plannableFrom = input.plannableFrom ?? horizonStart;
    this.enforceSectorTargets = input.enforceSectorTargets ?? true;
    this.calendar = new NodeCalendar(input.nodes, input.reservations, horizonStart, horizonEnd);
    this.ledger = new SectorLedger(input.months, this.calendar, input.sectorTargets);
    for (const reservation of input.reservations) {
      if (reservation.programId === undefined || reservation.sector === undefined) continue;
      const model = this.modelOf(reservation.nodeIds);
      if (model === undefined) continue;
      this.ledger.addUse(
        reservation.programId,
        model,
        reservation.sector,
        reservation.start,
        reservation.end,
        reservation.nodeIds.length,
      );
    }
  }

  private modelOf(nodeIds: readonly string[]): string | undefined {
    const index = this.calendar.nodeIndex.get(nodeIds[0]);
    return index === undefined ? undefined : this.calendar.nodes[index].gpuModel;
  }

  addPending(request: ReservationRequest, sign: 1 | -1): void {
    const start = request.requestedStart;
    this.ledger.addPending(
      request.programId,
      request.gpuModel,
      request.sector,
      start,
      start + requestDuration(request),
      sign * request.servers,
    );
  }

  utilization(reservations: readonly PlacedReservation[]): UtilizationCell[] {
    return computeUtilization(this.calendar, this.months, reservations);
  }

  /** The earliest slot for a request on the current calendar under a sector rule. */
  search(request: ReservationRequest, rule: SectorRule, stats?: SearchStats): Slot | null {
    const capRoom =
      rule === 'none'
        ? undefined
        : rule === 'own_share'
          ? this.ledger.ownShareRoom(request.programId, request.gpuModel, request.sector)
          : this.ledger.room(request.programId, request.gpuModel, request.sector);
    return findEarliestSlot(
      this.calendar,
      this.months,
      {
        gpuModel: request.gpuModel,
        servers: request.servers,
        durationSeconds: requestDuration(request),
        earliestStart: Math.max(request.requestedStart, this.plannableFrom),
        sameInterconnectDomain: request.sameInterconnectDomain ?? false,
        capRoom,
      },
      stats,
    );
  }

  /**
   * Round 1: the outcome when the sector's own share does not change the line's earliest start (or
   * targets are off, or the pool cannot hold the line at all); null when the line must wait for
   * round 2 to borrow.
   */
  planWithinShare(request: ReservationRequest): RequestOutcome | null {
    const shape = this.shapeProblem(request);
    if (shape) return this.waitlisted(request, 1, shape.code, 'pool_shape', null, shape.reason);
    if (!this.enforceSectorTargets) return this.decide(request, 1, this.search(request, 'none'));
    const stats: SearchStats = { capJumps: 0, windowsVisited: 0 };
    const withinShare = this.search(request, 'own_share', stats);
    // When the share moved no candidate, the search without it would retrace the same steps.
    if (stats.capJumps > 0 && this.search(request, 'none')?.start !== withinShare?.start) return null;
    return this.decide(request, 1, withinShare);
  }

  /** Round 2: the line borrows what the other sectors neither use nor still ask for. */
  planBorrowing(request: ReservationRequest): RequestOutcome {
    const stats: SearchStats = { capJumps: 0, windowsVisited: 0 };
    const slot = this.search(request, 'borrowing', stats);
    const free = stats.capJumps > 0 ? this.search(request, 'none') : slot;
    return this.decide(request, 2, slot, free);
  }

  private waitlisted(
    request: ReservationRequest,
    round: 1 | 2,
    code: WaitlistCode,
    blockedBy: WaitlistCause,
    earliestFeasibleStart: number | null,
    reason: string,
  ): WaitlistedOutcome {
    return {
      status: 'waitlisted',
      lineId: request.lineId,
      programId: request.programId,
      sector: request.sector,
      gpuModel: request.gpuModel,
      servers: request.servers,
      round,
      earliestFeasibleStart,
      code,
      blockedBy,
      reason,
    };
  }

  /**
   * The outcome of a search: placed when the slot ends by latestEnd, otherwise waitlisted with the
   * slot's start offered. `free` is the slot with no sector rule, to tell whether the rule held the
   * line back.
   */
  private decide(
    request: ReservationRequest,
    round: 1 | 2,
    slot: Slot | null,
    free: Slot | null = slot,
  ): RequestOutcome {
    const duration = requestDuration(request);
    const fits = (found: Slot | null): boolean =>
      found !== null && (request.latestEnd === undefined || found.start + duration <= request.latestEnd);
    if (slot !== null && fits(slot)) {
      const placed: PlacedOutcome = {
        status: 'placed',
        lineId: request.lineId,
        programId: request.programId,
        sector: request.sector,
        gpuModel: request.gpuModel,
        servers: request.servers,
        round,
        clusterId: this.calendar.nodes[slot.nodes[0]].clusterId,
        nodeIds: slot.nodes.map((i) => this.calendar.nodes[i].id),
        start: slot.start,
        end: slot.start + duration,
        delaySeconds: slot.start - request.requestedStart,
      };
      return placed;
    }
    const what = `${request.servers} ${request.gpuModel} server${request.servers === 1 ? '' : 's'}`;
    const code: WaitlistCode = slot ? 'ENDS_AFTER_LATEST_END' : 'NO_SLOT_BEFORE_HORIZON';
    const start = slot?.start ?? null;
    if (free !== slot && free !== null && fits(free)) {
      const offer = slot
        ? `The earliest start within the rule is ${formatInstantSeconds(slot.start)}.`
        : `There is no start within the rule before the calendar ends ${formatInstantSeconds(this.calendar.horizonEnd)}.`;
      return this.waitlisted(
        request,
        round,
        code,
        'sector_target',
        start,
        `${this.sectorSentence(request, free)} ${offer}`,
      );
    }
    const latestEnd = request.latestEnd;
    const reason =
      slot && latestEnd !== undefined
        ? `${what} for ${formatSeconds(duration)} are not free together until ${formatInstantSeconds(slot.start)}, so the line would end ${formatInstantSeconds(slot.start + duration)}, after its latest end ${formatInstantSeconds(latestEnd)}. Accept the later start, or ask for fewer servers or a shorter window; the planner never shortens a reservation.`
        : `No ${what} are free together for ${formatSeconds(duration)} from ${formatInstantSeconds(Math.max(request.requestedStart, this.plannableFrom))} before the calendar ends ${formatInstantSeconds(this.calendar.horizonEnd)}. Extend the planning calendar, or ask for fewer servers or a shorter window.`;
    return this.waitlisted(request, round, code, 'capacity', start, reason);
  }

  /** Puts a placed outcome on the calendar and the sector ledger; returns its calendar record. */
  commit(request: ReservationRequest, outcome: PlacedOutcome): PlacedReservation {
    for (const nodeId of outcome.nodeIds) {
      this.calendar.occupy(this.calendar.nodeIndex.get(nodeId) as number, outcome.start, outcome.end);
    }
    this.ledger.addUse(
      request.programId,
      request.gpuModel,
      request.sector,
      outcome.start,
      outcome.end,
      request.servers,
    );
    return {
      lineId: request.lineId,
      nodeIds: outcome.nodeIds,
      start: outcome.start,
      end: outcome.end,
      programId: request.programId,
      sector: request.sector,
      sameInterconnectDomain: request.sameInterconnectDomain ?? false,
    };
  }

  /** A line the pool can never hold as asked, whatever the calendar: no such model, or too big a group. */
  private shapeProblem(request: ReservationRequest): { code: WaitlistCode; reason: string } | null {
    const model = request.gpuModel;
    if (this.calendar.nodesOfModel(model).length === 0) {
      const models = this.calendar.gpuModels();
      return {
        code: 'NO_NODES_OF_MODEL',
        reason: `The pool has no ${model} nodes${models.length > 0 ? ` (it has ${joinWords(models)})` : ''}; ask for another GPU model.`,
      };
    }
    const largestCluster = this.calendar.largestGroup(model, 'cluster');
    if (request.servers > largestCluster) {
      return {
        code: 'LINE_LARGER_THAN_CLUSTER',
        reason: `A line's servers share one cluster, and the largest ${model} cluster has ${largestCluster} nodes; ask for at most ${largestCluster} servers or split the line.`,
      };
    }
    if (request.sameInterconnectDomain) {
      const largestDomain = this.calendar.largestGroup(model, 'domain');
      if (request.servers > largestDomain) {
        return {
          code: 'LINE_LARGER_THAN_DOMAIN',
          reason: `The line wants all ${request.servers} servers in one interconnect domain, and the largest ${model} domain has ${largestDomain} nodes; ask for at most ${largestDomain} servers, split the line, or allow several domains.`,
        };
      }
    }
    return null;
  }

  /** Names the month and sector whose target held the line back from the slot it had without it. */
  private sectorSentence(request: ReservationRequest, free: Slot): string {
    const duration = requestDuration(request);
    const room = this.ledger.room(request.programId, request.gpuModel, request.sector);
    const targets = this.ledger.targetsOf(request.programId);
    for (let m = 0; m < this.months.length; m += 1) {
      const month = this.months[m];
      const overlap = Math.min(free.start + duration, month.end) - Math.max(free.start, month.start);
      if (overlap <= 0 || request.servers * overlap <= room[m]) continue;
      const state = this.ledger.monthState(request.programId, request.gpuModel, m);
      const waiting = SECTORS.filter(
        (sector, x) => sector !== request.sector && state.pending[x] > 0 && state.used[x] < state.own[x],
      );
      const others =
        waiting.length > 0
          ? `${joinWords(waiting)} still ${waiting.length === 1 ? 'has' : 'have'} pending requests for that month`
          : 'the other sectors hold the rest';
      return (
        `The ${request.sector} sector of program ${request.programId} has used its share of ${request.gpuModel} in ${month.key} ` +
        `(target ${targets[request.sector]}%) and ${others}; without the target the line would start ${formatInstantSeconds(free.start)}. ` +
        `It can move up when those requests are decided and the waitlist is re-planned, or if the program raises the ${request.sector} target.`
      );
    }
    // Unreachable when the slot without the rule was refused by it; kept as a plain sentence.
    return `The ${request.sector} target of program ${request.programId} holds the line back.`;
  }
}
