import { moveOnCapacityLoss } from './capacity-loss.js';
import { calendarUtilization, planReservations } from './planner.js';
import { DAY, makeNodes, makeRequest } from './testing/planning-factories.js';
import type { PlanningInput } from './types.js';

const months = [{ key: 'h', start: 0, end: 30 * DAY }];
const valid: PlanningInput = { nodes: makeNodes('a', 2), months, reservations: [], requests: [] };

function violationsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ code: 'PLANNING_INPUT_INVALID', kind: 'invalid' });
    return (error as { details: { violations: { rule: string }[] } }).details.violations.map((v) => v.rule);
  }
  throw new Error('expected the input to be refused');
}

describe('planner input validation', () => {
  it('refuses a calendar that already double-books a node, naming both lines', () => {
    const reservations = [
      { lineId: 'x', nodeIds: ['a-1'], start: 0, end: 10 },
      { lineId: 'y', nodeIds: ['a-1'], start: 5, end: 20 },
    ];
    expect(violationsOf(() => planReservations({ ...valid, reservations }))).toEqual([
      'RESERVATIONS_OVERLAP',
    ]);
    expect(() => calendarUtilization({ ...valid, reservations })).toThrow(
      'Node a-1 is double-booked: x and y overlap',
    );
    expect(() => moveOnCapacityLoss({ ...valid, reservations }, { nodeIds: ['a-1'], from: 0 })).toThrow(
      expect.objectContaining({ code: 'PLANNING_INPUT_INVALID' }),
    );
  });

  it('lists every problem of the requests at once', () => {
    const requests = [
      makeRequest({ lineId: 'dup', servers: 0 }),
      makeRequest({ lineId: 'dup', durationSeconds: DAY, requestedEnd: 2 * DAY }),
      makeRequest({ lineId: 'half', durationSeconds: 1.5 }),
      makeRequest({ lineId: 'placed' }),
    ];
    const reservations = [{ lineId: 'placed', nodeIds: ['a-2'], start: 0, end: DAY }];
    expect(violationsOf(() => planReservations({ ...valid, reservations, requests }))).toEqual([
      'SERVERS_INVALID',
      'LINE_ID_INVALID',
      'DURATION_OR_END',
      'DURATION_INVALID',
      'LINE_ALREADY_PLACED',
    ]);
  });

  it('refuses months that leave a gap, an unknown node, and targets that do not add up to 100', () => {
    expect(
      violationsOf(() =>
        planReservations({
          ...valid,
          months: [
            { key: 'a', start: 0, end: 10 },
            { key: 'b', start: 11, end: 20 },
          ],
          reservations: [{ lineId: 'ghost', nodeIds: ['z-1'], start: 0, end: 5 }],
          sectorTargets: { p1: { national: 50, industry: 30, academia: 10 } },
        }),
      ),
    ).toEqual(['PLANNING_MONTHS_NOT_CONTIGUOUS', 'SECTOR_TARGETS_NOT_100', 'UNKNOWN_NODE']);
  });
});
