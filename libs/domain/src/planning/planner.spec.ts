import { seoulMidnight, seoulPlanningMonths } from './months.js';
import { planReservations, planWhatIf } from './planner.js';
import { DAY, makeNodes, makeRequest } from './testing/planning-factories.js';
import type { PlanningInput } from './types.js';

/**
 * A worked example: two H100 clusters — pangyo with four nodes in two interconnect domains of two,
 * sejong with two — and a line of last year's call already holding pangyo-1 and pangyo-2 for
 * January 2026. All lines are national except C; sector-rule.spec.ts covers the sector rule itself.
 */
const at = (day: string): number => seoulMidnight(day);
const nodes = [...makeNodes('pangyo', 4, { domainSize: 2 }), ...makeNodes('sejong', 2)];
const months = seoulPlanningMonths('2026-01', 3);
const round1 = {
  lineId: 'call-2025',
  nodeIds: ['pangyo-1', 'pangyo-2'],
  start: at('2026-01-01'),
  end: at('2026-02-01'),
  programId: 'call-2025',
  sector: 'national' as const,
};
const requests = {
  // Two servers in one domain for January: pangyo's free domain d2 and sejong tie; pangyo sorts first.
  training: makeRequest({
    lineId: 'A-training',
    servers: 2,
    sameInterconnectDomain: true,
    requestedStart: at('2026-01-01'),
    durationSeconds: 31 * DAY,
    orderKey: 1,
  }),
  // Three servers share a cluster: only pangyo has three, and it is full until February.
  threeServers: makeRequest({
    lineId: 'B-three',
    servers: 3,
    requestedStart: at('2026-01-10'),
    durationSeconds: 20 * DAY,
    orderKey: 2,
  }),
  academia: makeRequest({
    lineId: 'C-academia',
    sector: 'academia',
    requestedStart: at('2026-01-05'),
    durationSeconds: 10 * DAY,
    orderKey: 3,
  }),
  tooBig: makeRequest({ lineId: 'D-too-big', servers: 8, requestedStart: at('2026-01-01'), orderKey: 4 }),
  b200: makeRequest({ lineId: 'E-b200', gpuModel: 'B200', requestedStart: at('2026-01-01'), orderKey: 5 }),
  // Four servers for 30 days, to end by 1 March: pangyo has four free only from 21 February.
  late: makeRequest({
    lineId: 'F-late',
    servers: 4,
    requestedStart: at('2026-01-20'),
    durationSeconds: 30 * DAY,
    latestEnd: at('2026-03-01'),
    orderKey: 6,
  }),
  // Three days from 1 January, given as an end: sejong-1 is free until C-academia takes it on the 5th.
  short: makeRequest({
    lineId: 'G-short',
    requestedStart: at('2026-01-01'),
    requestedEnd: at('2026-01-04'),
    orderKey: 7,
  }),
};
const input: PlanningInput = { nodes, reservations: [round1], months, requests: Object.values(requests) };

describe('planReservations: a worked example on two clusters', () => {
  const plan = planReservations(input);
  const outcome = (lineId: string) => plan.outcomes.find((o) => o.lineId === lineId);

  it('reports outcomes in order key order; only F-late needed more than its sector share (round 2)', () => {
    // F-late from 21 February would put national at 88 of February's 168 node-days, above its 50% (84).
    expect(plan.outcomes.filter((o) => o.round === 2).map((o) => o.lineId)).toEqual(['F-late']);
    expect(plan.outcomes.map((o) => o.lineId)).toEqual([
      'A-training',
      'B-three',
      'C-academia',
      'D-too-big',
      'E-b200',
      'F-late',
      'G-short',
    ]);
  });

  it('places a one-domain line at its requested start in a free domain', () => {
    expect(outcome('A-training')).toMatchObject({
      status: 'placed',
      clusterId: 'pangyo',
      nodeIds: ['pangyo-3', 'pangyo-4'],
      start: at('2026-01-01'),
      end: at('2026-02-01'),
      delaySeconds: 0,
    });
  });

  it('starts a line at the earliest time its servers are free together in one cluster, never shorter', () => {
    expect(outcome('B-three')).toMatchObject({
      status: 'placed',
      clusterId: 'pangyo',
      nodeIds: ['pangyo-1', 'pangyo-2', 'pangyo-3'],
      start: at('2026-02-01'),
      end: at('2026-02-21'),
      delaySeconds: 22 * DAY,
    });
  });

  it('uses the other cluster when the line fits there', () => {
    expect(outcome('C-academia')).toMatchObject({
      status: 'placed',
      clusterId: 'sejong',
      nodeIds: ['sejong-1'],
    });
  });

  it('waitlists what the pool can never hold, saying what to change', () => {
    expect(outcome('D-too-big')).toMatchObject({
      status: 'waitlisted',
      code: 'LINE_LARGER_THAN_CLUSTER',
      blockedBy: 'pool_shape',
      earliestFeasibleStart: null,
    });
    expect(outcome('D-too-big')).toHaveProperty(
      'reason',
      expect.stringContaining('ask for at most 4 servers'),
    );
    expect(outcome('E-b200')).toMatchObject({ status: 'waitlisted', code: 'NO_NODES_OF_MODEL' });
    expect(outcome('E-b200')).toHaveProperty('reason', expect.stringContaining('(it has H100)'));
  });

  it('waitlists a line that would end after its latest end, offering the start it could have', () => {
    expect(outcome('F-late')).toMatchObject({
      status: 'waitlisted',
      code: 'ENDS_AFTER_LATEST_END',
      blockedBy: 'capacity',
      earliestFeasibleStart: at('2026-02-21'),
    });
    expect(outcome('F-late')).toHaveProperty(
      'reason',
      '4 H100 servers for 30 days are not free together until 2026-02-21 00:00 KST, so the line would end ' +
        '2026-03-23 00:00 KST, after its latest end 2026-03-01 00:00 KST. Accept the later start, or ask for fewer ' +
        'servers or a shorter window; the planner never shortens a reservation.',
    );
  });

  it('picks the node whose free gap the line fills best', () => {
    // sejong-1 is taken from the 5th, sejong-2 is free for months: the short line fills sejong-1's gap.
    expect(outcome('G-short')).toMatchObject({
      status: 'placed',
      nodeIds: ['sejong-1'],
      start: at('2026-01-01'),
      end: at('2026-01-04'),
    });
  });

  it('returns the calendar: the old record first, then the new ones in planning order', () => {
    expect(plan.reservations.map((r) => r.lineId)).toEqual([
      'call-2025',
      'A-training',
      'B-three',
      'C-academia',
      'G-short',
    ]);
    expect(plan.reservations[1]).toEqual({
      lineId: 'A-training',
      nodeIds: ['pangyo-3', 'pangyo-4'],
      start: at('2026-01-01'),
      end: at('2026-02-01'),
      programId: 'p1',
      sector: 'national',
      sameInterconnectDomain: true,
    });
  });

  it('reports utilization per model and month as exact GPU-seconds', () => {
    const gpuDay = 8n * 86_400n;
    const [january, february, march] = plan.utilization;
    // January: call-2025 2×31 + A 2×31 + C 10 + G 3 = 137 node-days of 6 × 31 = 186.
    expect(january).toEqual({
      gpuModel: 'H100',
      month: '2026-01',
      reservedGpuSeconds: 137n * gpuDay,
      capacityGpuSeconds: 186n * gpuDay,
      ratio: 0.7366,
      reservedBySector: { national: 127n * gpuDay, industry: 0n, academia: 10n * gpuDay, unassigned: 0n },
    });
    expect(february).toMatchObject({
      month: '2026-02',
      reservedGpuSeconds: 60n * gpuDay,
      capacityGpuSeconds: 168n * gpuDay,
      ratio: 0.3571,
    });
    expect(march).toMatchObject({ month: '2026-03', reservedGpuSeconds: 0n, ratio: 0 });
  });

  it('answers a what-if with the utilization before and after, changing nothing', () => {
    const frozen = JSON.stringify(input);
    const whatIf = planWhatIf(input);
    expect(JSON.stringify(input)).toBe(frozen);
    expect(whatIf.outcomes).toEqual(plan.outcomes);
    expect(whatIf.utilizationBefore[0]).toMatchObject({
      month: '2026-01',
      reservedGpuSeconds: 62n * 8n * 86_400n,
    });
  });

  it('does not start lines before plannableFrom', () => {
    const later = planReservations({ ...input, plannableFrom: at('2026-01-02') });
    expect(later.outcomes.find((o) => o.lineId === 'A-training')).toMatchObject({
      status: 'placed',
      start: at('2026-01-02'),
      end: at('2026-02-02'),
    });
  });

  it('counts only the time a node is up, and never places on down time', () => {
    const withMaintenance = nodes.map((node) =>
      node.id === 'sejong-2'
        ? {
            ...node,
            unavailable: [{ start: at('2026-01-01'), end: at('2026-01-11'), reason: 'maintenance' }],
          }
        : node,
    );
    const result = planReservations({
      nodes: withMaintenance,
      reservations: [],
      months,
      requests: [
        makeRequest({
          lineId: 'sejong-pair',
          servers: 2,
          sameInterconnectDomain: true,
          requestedStart: at('2026-01-01'),
          durationSeconds: 5 * DAY,
        }),
      ],
    });
    // pangyo d1 is free at once; a pair in sejong would have to wait for the maintenance to end.
    expect(result.outcomes[0]).toMatchObject({ status: 'placed', nodeIds: ['pangyo-1', 'pangyo-2'] });
    expect(result.utilization[0].capacityGpuSeconds).toBe((6n * 31n - 10n) * 8n * 86_400n);
  });
});
