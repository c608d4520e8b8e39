import type { PlacedReservation, PlanningCalendar, PlanningNode } from '#domain';
import { capacityLossSpans, planCapacityLoss } from './capacity-loss-plan.js';

const DAY = 86_400;
const months = [{ key: 'h', start: 0, end: 90 * DAY }];

/** a-1…a-N in cluster a, interconnect domains of `domainSize` nodes (d1, d2, …). */
function nodes(count: number, domainSize = count): PlanningNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `a-${i + 1}`,
    clusterId: 'a',
    gpuModel: 'H100',
    gpusPerNode: 8,
    interconnectDomain: `d${Math.floor(i / domainSize) + 1}`,
  }));
}

function record(
  lineId: string,
  nodeIds: string[],
  startDay: number,
  endDay: number,
  sameInterconnectDomain = false,
): PlacedReservation {
  return { lineId, nodeIds, start: startDay * DAY, end: endDay * DAY, sameInterconnectDomain };
}

/** Which lines hold which nodes, as the calendar stores them. */
function heldBy(reservations: readonly PlacedReservation[]): Map<string, Set<string>> {
  const held = new Map<string, Set<string>>();
  for (const r of reservations) {
    const set = held.get(r.lineId) ?? new Set<string>();
    for (const id of r.nodeIds) set.add(id);
    held.set(r.lineId, set);
  }
  return held;
}

describe('planCapacityLoss', () => {
  it('handles losses in time order and never moves a line onto a node lost later in its window', () => {
    const reservations = [record('L', ['a-1', 'a-2'], 0, 60)];
    const calendar: PlanningCalendar = { nodes: nodes(4), months, reservations };
    const steps = planCapacityLoss(
      calendar,
      [
        { nodeId: 'a-3', lostAt: 30 * DAY, reason: 'draining' },
        { nodeId: 'a-1', lostAt: 10 * DAY, reason: 'down' },
      ],
      heldBy(reservations),
    );
    // a-3 holds nothing, so only a-1's loss is a step; a-3 (out from day 30) is not a replacement.
    expect(steps).toEqual([
      {
        lostAt: 10 * DAY,
        lostNodeIds: ['a-1'],
        moved: [
          {
            lineId: 'L',
            lostNodeIds: ['a-1'],
            replacementNodeIds: ['a-4'],
            nodeIds: ['a-2', 'a-4'],
            start: 10 * DAY,
            end: 60 * DAY,
          },
        ],
        unplaceable: [],
      },
    ]);
    expect(capacityLossSpans(steps)).toEqual({
      cuts: [{ lineId: 'L', nodeId: 'a-1', at: 10 * DAY }],
      adds: [{ lineId: 'L', nodeId: 'a-4', start: 10 * DAY, end: 60 * DAY }],
    });
  });

  it('does not give a line back a node it held before (one span per node and reservation)', () => {
    // L lost a-3 on day 10 and moved to a-2; a-3 is back up and free. Now a-2 goes down.
    const reservations = [
      record('L', ['a-1'], 0, 60),
      record('L', ['a-3'], 0, 10),
      record('L', ['a-2'], 10, 60),
    ];
    const calendar: PlanningCalendar = { nodes: nodes(4), months, reservations };
    const [step] = planCapacityLoss(
      calendar,
      [{ nodeId: 'a-2', lostAt: 20 * DAY, reason: 'down' }],
      heldBy(reservations),
    );
    expect(step.moved).toMatchObject([{ lineId: 'L', replacementNodeIds: ['a-4'], start: 20 * DAY }]);

    // With a-4 taken as well, the line is reported rather than given a-3 a second time.
    const busy = [...reservations, record('M', ['a-4'], 0, 90)];
    const [stuck] = planCapacityLoss(
      { ...calendar, reservations: busy },
      [{ nodeId: 'a-2', lostAt: 20 * DAY, reason: 'down' }],
      heldBy(busy),
    );
    expect(stuck.moved).toEqual([]);
    expect(stuck.unplaceable).toMatchObject([{ lineId: 'L', keptNodeIds: ['a-1'], lostNodeIds: ['a-2'] }]);
  });

  it('sees a moved one-domain line whole: replacements stay in its domain', () => {
    // L (one domain) moved from a-2 to a-3 on day 10; a-2 is back but was L's; a-4 is taken; d2 is free.
    const reservations = [
      record('L', ['a-1'], 0, 60, true),
      record('L', ['a-2'], 0, 10, true),
      record('L', ['a-3'], 10, 60, true),
      record('M', ['a-4'], 0, 90),
    ];
    const [step] = planCapacityLoss(
      { nodes: nodes(8, 4), months, reservations },
      [{ nodeId: 'a-1', lostAt: 20 * DAY, reason: 'down' }],
      heldBy(reservations),
    );
    // Seen as a fragment, a-1's record alone would have moved to d2; seen whole, the line keeps a-3
    // and no node of d1 is left, so it is reported with the whole line in d2 as an option.
    expect(step.moved).toEqual([]);
    expect(step.unplaceable).toMatchObject([
      {
        lineId: 'L',
        lostNodeIds: ['a-1'],
        keptNodeIds: ['a-3'],
        start: 20 * DAY,
        end: 60 * DAY,
        options: expect.arrayContaining([
          {
            kind: 'move_whole_line',
            clusterId: 'a',
            nodeIds: ['a-5', 'a-6'],
            start: 20 * DAY,
            end: 60 * DAY,
          },
        ]),
      },
    ]);
    expect(capacityLossSpans([step])).toEqual({
      cuts: [{ lineId: 'L', nodeId: 'a-1', at: 20 * DAY }],
      adds: [],
    });
  });

  it('has nothing to do once the lost node holds nothing past its loss', () => {
    const reservations = [record('L', ['a-1'], 0, 10), record('L', ['a-2'], 10, 60)];
    expect(
      planCapacityLoss(
        { nodes: nodes(2), months, reservations },
        [{ nodeId: 'a-1', lostAt: 10 * DAY, reason: 'down' }],
        heldBy(reservations),
      ),
    ).toEqual([]);
  });
});
