import fc from 'fast-check';
import { moveOnCapacityLoss } from './capacity-loss.js';
import { planReservations } from './planner.js';
import { SMALL, scenarioArb } from './testing/planning-arbitraries.js';
import { DAY, makeNodes } from './testing/planning-factories.js';
import { oracleNodeFree } from './testing/planning-oracle.js';
import type { PlacedReservation, PlanningCalendar } from './types.js';

const months = [{ key: 'h', start: 0, end: 90 * DAY }];
const line = (
  lineId: string,
  nodeIds: string[],
  startDay: number,
  endDay: number,
  extra: Partial<PlacedReservation> = {},
) => ({
  lineId,
  nodeIds,
  start: startDay * DAY,
  end: endDay * DAY,
  ...extra,
});

describe('moveOnCapacityLoss', () => {
  it('replaces a lost server inside the line’s cluster for the rest of the same window', () => {
    const calendar: PlanningCalendar = {
      nodes: [...makeNodes('a', 4), ...makeNodes('b', 2)],
      months,
      reservations: [line('L', ['a-1', 'a-2'], 0, 60, { programId: 'p1', sector: 'national' })],
    };
    const result = moveOnCapacityLoss(calendar, { nodeIds: ['a-2'], from: 20 * DAY, reason: 'down' });
    expect(result.moved).toEqual([
      {
        lineId: 'L',
        lostNodeIds: ['a-2'],
        replacementNodeIds: ['a-3'],
        nodeIds: ['a-1', 'a-3'],
        start: 20 * DAY,
        end: 60 * DAY,
      },
    ]);
    expect(result.unplaceable).toEqual([]);
    // What ran before the loss stays on the old servers.
    expect(result.reservations).toEqual([
      line('L', ['a-1', 'a-2'], 0, 20, { programId: 'p1', sector: 'national' }),
      line('L', ['a-1', 'a-3'], 20, 60, { programId: 'p1', sector: 'national' }),
    ]);
    expect(result.nodes.find((n) => n.id === 'a-2')?.unavailable).toEqual([
      { start: 20 * DAY, end: 90 * DAY, reason: 'down' },
    ]);
  });

  it('moves a line that lost every server to another cluster, same window', () => {
    const result = moveOnCapacityLoss(
      {
        nodes: [...makeNodes('a', 2), ...makeNodes('b', 2)],
        months,
        reservations: [line('L', ['a-1', 'a-2'], 30, 60)],
      },
      { nodeIds: ['a-1', 'a-2'], from: 10 * DAY },
    );
    expect(result.moved).toMatchObject([
      { lineId: 'L', nodeIds: ['b-1', 'b-2'], start: 30 * DAY, end: 60 * DAY },
    ]);
    expect(result.reservations).toEqual([line('L', ['b-1', 'b-2'], 30, 60)]);
  });

  it('keeps a one-domain line in its domain, and lists the options when it cannot', () => {
    const result = moveOnCapacityLoss(
      {
        nodes: makeNodes('a', 4, { domainSize: 2 }),
        months,
        reservations: [line('L', ['a-1', 'a-2'], 0, 60, { sameInterconnectDomain: true })],
      },
      { nodeIds: ['a-2'], from: 20 * DAY },
    );
    expect(result.moved).toEqual([]);
    expect(result.unplaceable).toEqual([
      {
        lineId: 'L',
        lostNodeIds: ['a-2'],
        keptNodeIds: ['a-1'],
        start: 20 * DAY,
        end: 60 * DAY,
        reason: expect.stringContaining('The line keeps 1 of 2 servers until someone chooses'),
        options: [
          { kind: 'fewer_servers_now', servers: 1, start: 20 * DAY, end: 60 * DAY },
          {
            kind: 'move_whole_line',
            clusterId: 'a',
            nodeIds: ['a-3', 'a-4'],
            start: 20 * DAY,
            end: 60 * DAY,
          },
        ],
      },
    ]);
    // Nothing is applied: the line holds a-1 only, and a-2 is cut at the loss.
    expect(result.reservations).toEqual([
      line('L', ['a-1', 'a-2'], 0, 20, { sameInterconnectDomain: true }),
      line('L', ['a-1'], 20, 60, { sameInterconnectDomain: true }),
    ]);
  });

  it('offers the earliest later start when nothing can take over now', () => {
    const result = moveOnCapacityLoss(
      {
        nodes: makeNodes('a', 2),
        months,
        reservations: [line('X', ['a-1'], 0, 60), line('Y', ['a-2'], 0, 30)],
      },
      { nodeIds: ['a-1'], from: 10 * DAY, until: 20 * DAY },
    );
    expect(result.unplaceable).toMatchObject([
      { lineId: 'X', keptNodeIds: [], options: [{ kind: 'later_start', start: 20 * DAY, end: 70 * DAY }] },
    ]);
    expect(result.unplaceable[0].reason).toContain('run the whole line from');
    expect(result.reservations).toEqual([line('X', ['a-1'], 0, 10), line('Y', ['a-2'], 0, 30)]);
  });

  it('leaves lines off the lost nodes, or outside the loss, as they were', () => {
    const reservations = [
      line('other-node', ['a-2'], 0, 60),
      line('after', ['a-1'], 40, 60),
      line('before', ['a-1'], 0, 10),
    ];
    const result = moveOnCapacityLoss(
      { nodes: makeNodes('a', 2), months, reservations },
      { nodeIds: ['a-1'], from: 10 * DAY, until: 40 * DAY },
    );
    expect(result.moved).toEqual([]);
    expect(result.unplaceable).toEqual([]);
    expect(new Set(result.reservations)).toEqual(new Set(reservations));
  });

  it('refuses an unknown node or an empty loss window', () => {
    const calendar = { nodes: makeNodes('a', 1), months, reservations: [] };
    expect(() => moveOnCapacityLoss(calendar, { nodeIds: ['z-9'], from: 0 })).toThrow(
      expect.objectContaining({ code: 'CAPACITY_LOSS_NODES_INVALID' }),
    );
    expect(() => moveOnCapacityLoss(calendar, { nodeIds: ['a-1'], from: 10, until: 10 })).toThrow(
      expect.objectContaining({ code: 'CAPACITY_LOSS_WINDOW_INVALID' }),
    );
  });

  it('never double-books, keeps every moved window, and leaves nothing on a lost node while it is out', () => {
    fc.assert(
      fc.property(
        scenarioArb(SMALL),
        fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.nat(),
        (input, picks, fromPick, lengthPick) => {
          const calendar = { ...input, reservations: planReservations(input).reservations };
          const horizon = input.months[input.months.length - 1].end;
          const lost = [...new Set(picks.map((k) => input.nodes[k % input.nodes.length].id))];
          const from = fromPick % horizon;
          const until = from + 1 + (lengthPick % horizon);
          const result = moveOnCapacityLoss(calendar, { nodeIds: lost, from, until });

          for (const [i, r] of result.reservations.entries()) {
            const others = result.reservations.filter((_, j) => j !== i);
            for (const nodeId of r.nodeIds) {
              const node = result.nodes.find((n) => n.id === nodeId);
              expect(node).toBeDefined();
              // Old records may already overlap old down time; nothing may overlap another record or this loss.
              expect(oracleNodeFree({ ...node!, unavailable: [] }, others, r.start, r.end)).toBe(true);
              if (lost.includes(nodeId)) expect(r.start >= until || r.end <= from).toBe(true);
            }
          }
          for (const move of result.moved) {
            const original = calendar.reservations.find(
              (r) => r.lineId === move.lineId && r.end === move.end,
            );
            expect(original).toBeDefined();
            expect(move.start).toBe(Math.max(original!.start, from));
            expect(move.nodeIds).toHaveLength(original!.nodeIds.length);
            for (const nodeId of move.replacementNodeIds) {
              const node = result.nodes.find((n) => n.id === nodeId)!;
              expect(
                oracleNodeFree(
                  node,
                  result.reservations.filter((r) => !(r.lineId === move.lineId && r.start === move.start)),
                  move.start,
                  move.end,
                ),
              ).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
