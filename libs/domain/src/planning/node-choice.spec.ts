import { planReservations } from './planner.js';
import { DAY, makeNodes, makeRequest } from './testing/planning-factories.js';
import type { PlacedReservation, PlanningNode, ReservationRequest } from './types.js';

/** Which nodes a line gets when several are free at its earliest start (earliest-start.ts, best fit). */
const months = [{ key: 'q', start: 0, end: 90 * DAY }];
const busy = (lineId: string, nodeIds: string[], startDay: number, endDay: number): PlacedReservation => ({
  lineId,
  nodeIds,
  start: startDay * DAY,
  end: endDay * DAY,
});
const place = (nodes: PlanningNode[], reservations: PlacedReservation[], request: ReservationRequest) =>
  planReservations({ nodes, reservations, months, requests: [request], enforceSectorTargets: false })
    .outcomes[0];

describe('node choice at the earliest start', () => {
  it('takes the node whose previous reservation ended most recently, keeping long free stretches whole', () => {
    const outcome = place(
      makeNodes('n', 3),
      [busy('old-1', ['n-1'], 0, 10), busy('old-2', ['n-2'], 0, 5)],
      makeRequest({ requestedStart: 10 * DAY, durationSeconds: 5 * DAY }),
    );
    expect(outcome).toMatchObject({ nodeIds: ['n-1'], start: 10 * DAY });
  });

  it('then the node whose next reservation starts soonest after the line ends', () => {
    const outcome = place(
      makeNodes('n', 3),
      [busy('later-1', ['n-1'], 40, 50), busy('later-2', ['n-2'], 20, 30)],
      makeRequest({ requestedStart: 0, durationSeconds: 15 * DAY }),
    );
    expect(outcome).toMatchObject({ nodeIds: ['n-2'], start: 0 });
  });

  it('breaks remaining ties by node id and cluster id, whatever the input order', () => {
    const nodes = [...makeNodes('b', 2), ...makeNodes('a', 2)].reverse();
    expect(place(nodes, [], makeRequest({ servers: 2 }))).toMatchObject({
      clusterId: 'a',
      nodeIds: ['a-1', 'a-2'],
    });
  });

  it('prefers the cluster where the line fills gaps that just opened over a fresh one', () => {
    const outcome = place(
      [...makeNodes('a', 2), ...makeNodes('b', 2)],
      [busy('old', ['b-1', 'b-2'], 0, 10)],
      makeRequest({ servers: 2, requestedStart: 10 * DAY }),
    );
    expect(outcome).toMatchObject({ clusterId: 'b', nodeIds: ['b-1', 'b-2'] });
  });

  it('keeps a one-domain line inside one interconnect domain', () => {
    const outcome = place(
      makeNodes('a', 4, { domainSize: 2 }),
      [busy('old', ['a-1'], 0, 30)],
      makeRequest({ servers: 2, sameInterconnectDomain: true }),
    );
    expect(outcome).toMatchObject({ nodeIds: ['a-3', 'a-4'], start: 0 });
    // Without the flag the same line may span domains: a-2 (d1) and a-3 (d2) are the first free nodes.
    expect(
      place(makeNodes('a', 4, { domainSize: 2 }), [busy('old', ['a-1'], 0, 30)], makeRequest({ servers: 2 })),
    ).toMatchObject({ nodeIds: ['a-2', 'a-3'] });
  });
});
