import { planReservations, replanWaitlist } from './planner.js';
import { applyRelease, releaseServers } from './release.js';
import { DAY, makeNodes, makeRequest } from './testing/planning-factories.js';
import type { PlacedReservation } from './types.js';

const reservation: PlacedReservation = {
  lineId: 'big',
  nodeIds: ['a-1', 'a-2', 'a-3', 'a-4'],
  start: 10 * DAY,
  end: 100 * DAY,
  programId: 'p1',
  sector: 'industry',
};

describe('releaseServers (early release after a recall)', () => {
  it('keeps the other servers for the whole window and shortens only the released ones', () => {
    expect(releaseServers(reservation, ['a-3', 'a-4'], 40 * DAY)).toEqual({
      kept: { ...reservation, nodeIds: ['a-1', 'a-2'] },
      released: { ...reservation, nodeIds: ['a-3', 'a-4'], end: 40 * DAY },
      freed: { nodeIds: ['a-3', 'a-4'], start: 40 * DAY, end: 100 * DAY },
    });
  });

  it('frees the whole window of servers released before the line starts, and all of it when all go', () => {
    const result = releaseServers(reservation, ['a-1', 'a-2', 'a-3', 'a-4'], 0);
    expect(result.kept).toBeNull();
    expect(result.released).toBeNull();
    expect(result.freed).toEqual({ nodeIds: ['a-1', 'a-2', 'a-3', 'a-4'], start: 10 * DAY, end: 100 * DAY });
  });

  it('refuses what is not the line’s to release, or a release after its end', () => {
    expect(() => releaseServers(reservation, ['b-1'], 40 * DAY)).toThrow(
      expect.objectContaining({ code: 'RELEASE_NODES_NOT_RESERVED' }),
    );
    expect(() => releaseServers(reservation, ['a-1', 'a-1'], 40 * DAY)).toThrow(
      expect.objectContaining({ code: 'RELEASE_NODES_INVALID' }),
    );
    expect(() => releaseServers(reservation, ['a-1'], 100 * DAY)).toThrow(
      expect.objectContaining({ code: 'RELEASE_AFTER_END' }),
    );
  });
});

describe('release, then re-plan the waitlist', () => {
  const months = [{ key: 'h', start: 0, end: 180 * DAY }];
  const nodes = makeNodes('a', 4);
  const waiting = makeRequest({
    lineId: 'waiting',
    servers: 2,
    sector: 'industry',
    requestedStart: 20 * DAY,
    durationSeconds: 60 * DAY,
    latestEnd: 110 * DAY,
  });

  it('places a waitlisted line on the servers a recall returned', () => {
    const before = planReservations({ nodes, months, reservations: [reservation], requests: [waiting] });
    expect(before.outcomes[0]).toMatchObject({
      status: 'waitlisted',
      code: 'ENDS_AFTER_LATEST_END',
      earliestFeasibleStart: 100 * DAY,
    });

    const calendar = {
      nodes,
      months,
      reservations: applyRelease([reservation], 'big', ['a-3', 'a-4'], 40 * DAY),
    };
    expect(calendar.reservations).toHaveLength(2);
    const after = replanWaitlist(calendar, [waiting]);
    expect(after.outcomes[0]).toMatchObject({
      status: 'placed',
      nodeIds: ['a-3', 'a-4'],
      start: 40 * DAY,
      end: 100 * DAY,
    });
  });

  it('names the record it cannot find', () => {
    expect(() => applyRelease([reservation], 'big', ['a-1'], 100 * DAY)).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });
});
