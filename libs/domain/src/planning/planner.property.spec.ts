import fc from 'fast-check';
import { planReservations } from './planner.js';
import { SMALL, TINY, contendedScenarioArb, scenarioArb } from './testing/planning-arbitraries.js';
import { oracleEarliestStart, oracleNodeFree, oracleSectorRuleAllows } from './testing/planning-oracle.js';
import type {
  PlacedReservation,
  PlanningInput,
  PlanResult,
  RequestOutcome,
  ReservationRequest,
} from './types.js';
import { compareRequests, requestDuration } from './validation.js';

/** Every pair of records on one node is disjoint, and no record meets the node's unavailable time. */
function doubleBookings(
  input: PlanningInput,
  reservations: readonly PlacedReservation[],
  fromIndex: number,
): string[] {
  const problems: string[] = [];
  for (let i = fromIndex; i < reservations.length; i += 1) {
    const r = reservations[i];
    for (const nodeId of r.nodeIds) {
      const node = input.nodes.find((n) => n.id === nodeId);
      if (!node) {
        problems.push(`${r.lineId} on unknown node ${nodeId}`);
        continue;
      }
      const others = reservations.filter((_, j) => j !== i);
      if (!oracleNodeFree(node, others, r.start, r.end)) problems.push(`${r.lineId} double-books ${nodeId}`);
    }
  }
  return problems;
}

type Visit = (
  request: ReservationRequest,
  outcome: RequestOutcome,
  state: { round: 1 | 2; before: PlacedReservation[]; pending: ReservationRequest[] },
) => void;

/**
 * Replays the plan the way the planner makes it: round 1 visits every request (in order) with the
 * round-1 placements before it; round 2 visits the round-2 requests with everything placed before
 * them and the round-2 requests still pending.
 */
function replay(input: PlanningInput, plan: PlanResult, visit: Visit): void {
  const ordered = [...input.requests].sort(compareRequests);
  const outcomes = new Map(plan.outcomes.map((o) => [o.lineId, o]));
  const placed: PlacedReservation[] = [...input.reservations];
  const place = (request: ReservationRequest, outcome: RequestOutcome): void => {
    if (outcome.status !== 'placed') return;
    placed.push({
      lineId: outcome.lineId,
      nodeIds: outcome.nodeIds,
      start: outcome.start,
      end: outcome.end,
      programId: request.programId,
      sector: request.sector,
    });
  };
  for (const request of ordered) {
    const outcome = outcomes.get(request.lineId) as RequestOutcome;
    visit(request, outcome, { round: 1, before: [...placed], pending: [] });
    if (outcome.round === 1) place(request, outcome);
  }
  const second = ordered.filter((request) => outcomes.get(request.lineId)?.round === 2);
  second.forEach((request, i) => {
    const outcome = outcomes.get(request.lineId) as RequestOutcome;
    visit(request, outcome, { round: 2, before: [...placed], pending: second.slice(i + 1) });
    place(request, outcome);
  });
}

/** What the planner must have decided for a request whose earliest start (under its round's rule) is `expected`. */
function expectOutcome(request: ReservationRequest, outcome: RequestOutcome, expected: number | null): void {
  const fits =
    expected !== null &&
    (request.latestEnd === undefined || expected + requestDuration(request) <= request.latestEnd);
  if (fits) expect(outcome).toMatchObject({ status: 'placed', start: expected });
  else expect(outcome).toMatchObject({ status: 'waitlisted', earliestFeasibleStart: expected });
}

describe('planReservations (properties on random calendars)', () => {
  it('never double-books a node, between reservations or with unavailable intervals', () => {
    fc.assert(
      fc.property(scenarioArb(SMALL), (input) => {
        const plan = planReservations(input);
        expect(doubleBookings(input, plan.reservations, input.reservations.length)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('never shortens a line and never starts it before it asked, and places its nodes as asked', () => {
    fc.assert(
      fc.property(scenarioArb(SMALL), (input) => {
        const plan = planReservations(input);
        const byLine = new Map(input.requests.map((r) => [r.lineId, r]));
        for (const outcome of plan.outcomes) {
          if (outcome.status !== 'placed') continue;
          const request = byLine.get(outcome.lineId) as ReservationRequest;
          expect(outcome.end - outcome.start).toBe(requestDuration(request));
          expect(outcome.start).toBeGreaterThanOrEqual(request.requestedStart);
          if (request.latestEnd !== undefined) expect(outcome.end).toBeLessThanOrEqual(request.latestEnd);
          expect(outcome.nodeIds).toHaveLength(request.servers);
          const nodes = outcome.nodeIds.map((id) => input.nodes.find((n) => n.id === id));
          expect(new Set(nodes.map((n) => n?.clusterId))).toEqual(new Set([outcome.clusterId]));
          expect(nodes.every((n) => n?.gpuModel === request.gpuModel)).toBe(true);
          if (request.sameInterconnectDomain)
            expect(new Set(nodes.map((n) => n?.interconnectDomain)).size).toBe(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps every placement within the sector rule of its round at the moment it is made', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          scenarioArb(SMALL).filter((input) => input.enforceSectorTargets !== false),
          contendedScenarioArb(SMALL),
        ),
        (input) => {
          const plan = planReservations(input);
          replay(input, plan, (request, outcome, { round, before, pending }) => {
            if (outcome.status !== 'placed' || outcome.round !== round) return;
            const rule = round === 1 ? 'own_share' : 'borrowing';
            expect(oracleSectorRuleAllows(input, before, pending, request, outcome.start, rule)).toBe(true);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('finds the same earliest start as a brute-force search over every start and node subset', () => {
    fc.assert(
      fc.property(fc.oneof(scenarioArb(TINY), contendedScenarioArb(TINY)), (input) => {
        const plan = planReservations(input);
        const enforce = input.enforceSectorTargets !== false;
        replay(input, plan, (request, outcome, { round, before, pending }) => {
          if (round === 1) {
            const free = oracleEarliestStart(input, before, pending, request, 'none');
            const withinShare = enforce
              ? oracleEarliestStart(input, before, pending, request, 'own_share')
              : free;
            // Round 1 keeps exactly the lines whose own share does not move their earliest start.
            expect(outcome.round).toBe(withinShare === free ? 1 : 2);
            if (outcome.round === 1) expectOutcome(request, outcome, free);
          } else {
            expectOutcome(
              request,
              outcome,
              oracleEarliestStart(input, before, pending, request, 'borrowing'),
            );
          }
        });
      }),
      { numRuns: 600 },
    );
  });

  it('is deterministic: the same plan for the same input in any array order', () => {
    fc.assert(
      fc.property(scenarioArb(SMALL), fc.integer(), (input, seed) => {
        const shuffle = <T>(items: readonly T[]): T[] => {
          let state = seed;
          const copy = [...items];
          for (let i = copy.length - 1; i > 0; i -= 1) {
            state = (Math.imul(state, 1103515245) + 12345) | 0;
            const j = Math.abs(state) % (i + 1);
            [copy[i], copy[j]] = [copy[j], copy[i]];
          }
          return copy;
        };
        const first = planReservations(input);
        const again = planReservations(input);
        const shuffled = planReservations({
          ...input,
          nodes: shuffle(input.nodes),
          requests: shuffle(input.requests),
        });
        expect(again).toEqual(first);
        expect(shuffled.outcomes).toEqual(first.outcomes);
      }),
      { numRuns: 150 },
    );
  });

  it('does not change its input (a what-if is a plain call)', () => {
    fc.assert(
      fc.property(scenarioArb(SMALL), (input) => {
        const before = JSON.stringify(input);
        planReservations(input);
        expect(JSON.stringify(input)).toBe(before);
      }),
      { numRuns: 50 },
    );
  });

  it('reports utilization no higher than capacity, and exactly the reserved node time', () => {
    fc.assert(
      fc.property(scenarioArb(SMALL), (input) => {
        const plan = planReservations(input);
        for (const cell of plan.utilization) {
          expect(cell.reservedGpuSeconds).toBeLessThanOrEqual(cell.capacityGpuSeconds);
          expect(cell.ratio).toBeGreaterThanOrEqual(0);
          expect(cell.ratio).toBeLessThanOrEqual(1);
        }
        // New placements never meet down time, so each adds exactly servers × 8 GPUs × its length.
        const added = plan.outcomes.reduce(
          (sum, o) => (o.status === 'placed' ? sum + BigInt(o.servers * 8 * (o.end - o.start)) : sum),
          0n,
        );
        const before = planReservations({ ...input, requests: [] }).utilization;
        const total = (cells: typeof before): bigint =>
          cells.reduce((sum, c) => sum + c.reservedGpuSeconds, 0n);
        expect(total(plan.utilization) - total(before)).toBe(added);
      }),
      { numRuns: 100 },
    );
  });
});
