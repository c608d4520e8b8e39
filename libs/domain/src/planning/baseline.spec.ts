import { planFirstComeFirstServed } from './baseline.js';
import { planReservations } from './planner.js';
import { DAY, makeNodes, makeRequest } from './testing/planning-factories.js';
import type { PlanningInput } from './types.js';

describe('planFirstComeFirstServed (benchmark baseline)', () => {
  const input: PlanningInput = {
    nodes: makeNodes('a', 3),
    months: [{ key: 'h', start: 0, end: 60 * DAY }],
    reservations: [{ lineId: 'old', nodeIds: ['a-1'], start: 0, end: 10 * DAY }],
    requests: [
      makeRequest({ lineId: 'first', servers: 2, durationSeconds: 20 * DAY, orderKey: 1 }),
      makeRequest({
        lineId: 'second',
        servers: 2,
        requestedStart: 5 * DAY,
        durationSeconds: 10 * DAY,
        orderKey: 2,
      }),
    ],
  };

  it('places each line only at its requested start, on the first free nodes by id', () => {
    const plan = planFirstComeFirstServed(input);
    expect(plan.outcomes[0]).toMatchObject({ status: 'placed', nodeIds: ['a-2', 'a-3'], start: 0 });
    expect(plan.outcomes[1]).toMatchObject({
      status: 'waitlisted',
      code: 'BUSY_AT_REQUESTED_START',
      earliestFeasibleStart: null,
    });
  });

  it('is what the planner improves on: the planner starts the second line when servers free up', () => {
    expect(planReservations({ ...input, enforceSectorTargets: false }).outcomes[1]).toMatchObject({
      status: 'placed',
      start: 20 * DAY,
    });
  });
});
