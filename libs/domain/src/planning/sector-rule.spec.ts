import { planReservations } from './planner.js';
import { DAY, makeNodes, makeRequest } from './testing/planning-factories.js';
import type { PlanningInput, ReservationRequest } from './types.js';

/**
 * The sector rule (sector-ledger.ts) on ten H100 nodes and months of 30 days: each month holds
 * 300 node-days, so with the default targets national owns 150, industry 90 and academia 60.
 */
const months = [0, 1, 2].map((i) => ({ key: `m${i}`, start: i * 30 * DAY, end: (i + 1) * 30 * DAY }));
const nodes = makeNodes('c', 10);
const month = (servers: number, overrides: Partial<ReservationRequest>): ReservationRequest =>
  makeRequest({ servers, requestedStart: 0, durationSeconds: 30 * DAY, ...overrides });
const plan = (requests: ReservationRequest[], extra: Partial<PlanningInput> = {}) =>
  planReservations({ nodes, reservations: [], months, requests, ...extra });
const outcomeOf = (result: ReturnType<typeof plan>, lineId: string) =>
  result.outcomes.find((o) => o.lineId === lineId);

describe('sector targets: borrowable, but first served to the owner', () => {
  it('places a line within its sector share in round 1 at its requested start', () => {
    const result = plan([month(3, { lineId: 'industry-90', sector: 'industry' })]);
    expect(result.outcomes[0]).toMatchObject({ status: 'placed', round: 1, start: 0 });
  });

  it('lets a line beyond its share borrow in round 2 what no other sector uses or asks for', () => {
    const result = plan([month(5, { lineId: 'industry-150', sector: 'industry' })]);
    expect(result.outcomes[0]).toMatchObject({ status: 'placed', round: 2, start: 0 });
  });

  it('places an owner within its share before a borrower that came first in order', () => {
    const result = plan([
      month(8, { lineId: 'industry-240', sector: 'industry', orderKey: 1 }),
      month(5, { lineId: 'national-150', sector: 'national', orderKey: 2 }),
    ]);
    expect(outcomeOf(result, 'national-150')).toMatchObject({ status: 'placed', round: 1, start: 0 });
    // Industry may take 300 − 150 = 150 node-days of m0, and only 5 nodes are left there: it starts with m1.
    expect(outcomeOf(result, 'industry-240')).toMatchObject({ status: 'placed', round: 2, start: 30 * DAY });

    const firstComeFirstServed = plan(
      [
        month(8, { lineId: 'industry-240', sector: 'industry', orderKey: 1 }),
        month(5, { lineId: 'national-150', sector: 'national', orderKey: 2 }),
      ],
      { enforceSectorTargets: false },
    );
    expect(outcomeOf(firstComeFirstServed, 'industry-240')).toMatchObject({ start: 0, round: 1 });
    expect(outcomeOf(firstComeFirstServed, 'national-150')).toMatchObject({ start: 30 * DAY });
  });

  it("holds back a pending owner's share from a borrower planned before it, sliding the borrower's start", () => {
    const industry = month(6, { lineId: 'industry-180', sector: 'industry', orderKey: 1 });
    const national = month(7, { lineId: 'national-210', sector: 'national', orderKey: 2 });
    const alone = plan([industry]);
    expect(alone.outcomes[0]).toMatchObject({ round: 2, start: 0 });

    // With national still asking for 210 node-days of m0 (it holds its 150), industry may have 300 − 150 = 150
    // there: six servers start on day 5, which is no busy-interval end — the month bound decides it.
    const contested = plan([industry, national]);
    expect(outcomeOf(contested, 'industry-180')).toMatchObject({
      status: 'placed',
      round: 2,
      start: 5 * DAY,
    });
    const m0 = contested.utilization.find((cell) => cell.month === 'm0');
    expect(m0?.reservedBySector.industry).toBe(150n * 8n * BigInt(DAY));
  });

  it('waitlists a line the rule holds back, naming the month, the target and who is waiting', () => {
    const result = plan([
      month(6, { lineId: 'industry-180', sector: 'industry', orderKey: 1, latestEnd: 30 * DAY }),
      month(7, { lineId: 'national-210', sector: 'national', orderKey: 2 }),
    ]);
    const industry = outcomeOf(result, 'industry-180');
    expect(industry).toMatchObject({
      status: 'waitlisted',
      round: 2,
      code: 'ENDS_AFTER_LATEST_END',
      blockedBy: 'sector_target',
      earliestFeasibleStart: 5 * DAY,
    });
    expect(industry).toHaveProperty(
      'reason',
      expect.stringContaining(
        'The industry sector of program p1 has used its share of H100 in m0 (target 30%) and national still has pending requests for that month',
      ),
    );
  });

  it('takes targets per program', () => {
    const result = plan(
      [month(6, { lineId: 'industry-180', sector: 'industry', programId: 'industry-call' })],
      {
        sectorTargets: { 'industry-call': { national: 20, industry: 60, academia: 20 } },
      },
    );
    expect(result.outcomes[0]).toMatchObject({ status: 'placed', round: 1, start: 0 });
  });

  it("counts the program's existing records toward its sectors, and other programs' toward none", () => {
    const existing = (programId: string) => ({
      lineId: `old-${programId}`,
      nodeIds: ['c-1', 'c-2', 'c-3'],
      start: 0,
      end: 30 * DAY,
      programId,
      sector: 'academia' as const,
    });
    // Academia owns 60 node-days of m0; an old 90-node-day academia line of p1 already exceeds it.
    const own = planReservations({
      nodes,
      months,
      reservations: [existing('p1')],
      requests: [month(1, { lineId: 'academia-30', sector: 'academia' })],
    });
    expect(own.outcomes[0]).toMatchObject({ round: 2, status: 'placed', start: 0 });
    const other = planReservations({
      nodes,
      months,
      reservations: [existing('other')],
      requests: [month(1, { lineId: 'academia-30', sector: 'academia' })],
    });
    expect(other.outcomes[0]).toMatchObject({ round: 1, status: 'placed', start: 0 });
  });

  it('plans in one round with no sector rule when targets are off', () => {
    const result = plan([month(10, { lineId: 'academia-all', sector: 'academia' })], {
      enforceSectorTargets: false,
    });
    expect(result.outcomes[0]).toMatchObject({ status: 'placed', round: 1, start: 0 });
  });
});
