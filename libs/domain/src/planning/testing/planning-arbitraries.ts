import fc from 'fast-check';
import {
  SECTORS,
  type PlacedReservation,
  type PlanningInput,
  type PlanningMonth,
  type PlanningNode,
  type ReservationRequest,
} from '../types.js';

/**
 * fast-check generators of small random calendars for the planner's property tests. Times are small
 * integers (a "month" is a few seconds) so a brute-force search over every second stays cheap.
 */
export interface ScenarioSize {
  maxNodes: number;
  maxRequests: number;
  maxMonths: number;
  maxMonthLength: number;
  maxServers: number;
}

export const TINY: ScenarioSize = {
  maxNodes: 6,
  maxRequests: 6,
  maxMonths: 4,
  maxMonthLength: 8,
  maxServers: 3,
};
export const SMALL: ScenarioSize = {
  maxNodes: 14,
  maxRequests: 30,
  maxMonths: 6,
  maxMonthLength: 12,
  maxServers: 5,
};

const targetsArb = fc
  .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }))
  .map(([a, b]) => {
    const national = Math.min(a, b);
    const industry = Math.max(a, b) - national;
    return { national, industry, academia: 100 - national - industry };
  });

export function scenarioArb(size: ScenarioSize): fc.Arbitrary<PlanningInput> {
  return fc
    .array(fc.integer({ min: 2, max: size.maxMonthLength }), { minLength: 1, maxLength: size.maxMonths })
    .chain((monthLengths) => {
      const months: PlanningMonth[] = [];
      let at = 0;
      monthLengths.forEach((length, i) => {
        months.push({ key: `m${i}`, start: at, end: at + length });
        at += length;
      });
      const horizon = at;
      const spanArb = fc
        .tuple(
          fc.integer({ min: 0, max: horizon - 1 }),
          fc.integer({ min: 1, max: Math.max(1, Math.ceil(horizon / 2)) }),
        )
        .map(([start, length]) => ({ start, end: Math.min(horizon + 2, start + length) }));
      const nodeArb = fc.record({
        cluster: fc.constantFrom('c1', 'c1', 'c1', 'c2'),
        domain: fc.constantFrom('d1', 'd1', 'd2'),
        model: fc.constantFrom('H100', 'H100', 'H100', 'H100', 'H100', 'B200'),
        unavailable: fc.array(spanArb, { maxLength: 2 }),
      });
      const reservationArb = fc.record({
        nodes: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        span: spanArb,
        program: fc.constantFrom('p1', 'p2'),
        sector: fc.option(fc.constantFrom(...SECTORS), { nil: undefined }),
      });
      const requestArb = fc.record({
        servers: fc.oneof(
          { arbitrary: fc.constant(1), weight: 4 },
          { arbitrary: fc.constant(2), weight: 2 },
          { arbitrary: fc.integer({ min: 1, max: size.maxServers }), weight: 1 },
        ),
        duration: fc.oneof(
          { arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.ceil(horizon / 3)) }), weight: 4 },
          { arbitrary: fc.integer({ min: 1, max: horizon }), weight: 1 },
        ),
        start: fc.integer({ min: 0, max: horizon - 1 }),
        useEnd: fc.boolean(),
        model: fc.constantFrom(
          'H100',
          'H100',
          'H100',
          'H100',
          'H100',
          'H100',
          'H100',
          'H100',
          'B200',
          'A100',
        ),
        sector: fc.constantFrom(...SECTORS, 'industry', 'industry'),
        program: fc.constantFrom('p1', 'p1', 'p1', 'p2'),
        sameDomain: fc.boolean(),
        orderKey: fc.integer({ min: 0, max: 4 }),
        latestEndSlack: fc.option(fc.integer({ min: 0, max: horizon }), { nil: undefined }),
      });
      return fc.record({
        months: fc.constant(months),
        nodes: fc.array(nodeArb, { minLength: 1, maxLength: size.maxNodes }),
        reservations: fc.array(reservationArb, { maxLength: Math.ceil(size.maxNodes / 2) }),
        requests: fc.array(requestArb, { minLength: 1, maxLength: size.maxRequests }),
        plannableFrom: fc.option(fc.integer({ min: 0, max: horizon - 1 }), { nil: undefined }),
        targets: fc.option(fc.record({ p1: targetsArb, p2: targetsArb }), { nil: undefined }),
        enforce: fc.constantFrom(true, true, true, false),
      });
    })
    .map((raw) => {
      const nodes: PlanningNode[] = raw.nodes.map((node, i) => ({
        id: `n${i}`,
        clusterId: node.cluster,
        gpuModel: node.model,
        gpusPerNode: 8,
        interconnectDomain: node.domain,
        unavailable: node.unavailable,
      }));
      // Existing reservations: keep each only if it double-books nothing placed before it.
      const reservations: PlacedReservation[] = [];
      raw.reservations.forEach((candidate, i) => {
        const nodeIds = [...new Set(candidate.nodes.map((k) => nodes[k % nodes.length].id))];
        const clash = reservations.some(
          (r) =>
            r.nodeIds.some((id) => nodeIds.includes(id)) &&
            r.start < candidate.span.end &&
            candidate.span.start < r.end,
        );
        if (!clash) {
          reservations.push({
            lineId: `old${i}`,
            nodeIds,
            start: candidate.span.start,
            end: candidate.span.end,
            programId: candidate.program,
            sector: candidate.sector,
          });
        }
      });
      const requests: ReservationRequest[] = raw.requests.map((r, i) => ({
        lineId: `L${i}`,
        programId: r.program,
        sector: r.sector,
        gpuModel: r.model,
        servers: r.servers,
        requestedStart: r.start,
        ...(r.useEnd ? { requestedEnd: r.start + r.duration } : { durationSeconds: r.duration }),
        latestEnd: r.latestEndSlack === undefined ? undefined : r.start + r.duration + r.latestEndSlack,
        sameInterconnectDomain: r.sameDomain,
        orderKey: r.orderKey,
      }));
      const input: PlanningInput = {
        nodes,
        reservations,
        months: raw.months,
        requests,
        plannableFrom: raw.plannableFrom,
        sectorTargets: raw.targets,
        enforceSectorTargets: raw.enforce,
      };
      return input;
    });
}

/**
 * The same calendars made contended: one model in one cluster, every request for it, sector targets
 * always on — the regime where the sector rule, not the node count, decides starts.
 */
export function contendedScenarioArb(size: ScenarioSize): fc.Arbitrary<PlanningInput> {
  return fc.tuple(scenarioArb(size), targetsArb).map(([input, targets]) => {
    const horizon = input.months[input.months.length - 1].end;
    const quarter = Math.max(1, Math.ceil(horizon / 4));
    return {
      ...input,
      // No down time and every old record in program p1: free nodes, so the sector rule decides.
      nodes: input.nodes.map((node) => ({ ...node, clusterId: 'c1', gpuModel: 'H100', unavailable: [] })),
      reservations: input.reservations.map((reservation) => ({ ...reservation, programId: 'p1' })),
      // Windows that pile up in the first half of the calendar, a quarter to a half of it long.
      requests: input.requests.map((request) => {
        const { durationSeconds: _duration, requestedEnd: _end, ...rest } = request;
        const start = request.requestedStart % (2 * quarter);
        const duration = quarter + ((request.durationSeconds ?? request.requestedEnd ?? 0) % quarter);
        return {
          ...rest,
          programId: 'p1',
          gpuModel: 'H100',
          requestedStart: start,
          durationSeconds: duration,
          servers: Math.min(request.servers, 2),
        };
      }),
      sectorTargets: { p1: targets, p2: targets },
      enforceSectorTargets: true,
    };
  });
}
