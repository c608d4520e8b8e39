import type { RequestOutcome, UtilizationCell } from '#domain';
import type { RequestReservedLine, WhatIfRequestRow } from '#persistence';
import { namedCandidates, orderLines, shapeWhatIf, whatIfRequests } from './what-if-shaping.js';

const DAY = 86_400;
const JAN = Date.UTC(2026, 0, 1) / 1000;
const months = [
  { key: '2026-01', start: JAN, end: JAN + 31 * DAY },
  { key: '2026-02', start: JAN + 31 * DAY, end: JAN + 59 * DAY },
  { key: '2026-03', start: JAN + 59 * DAY, end: JAN + 90 * DAY },
];

function request(id: string, overrides: Partial<WhatIfRequestRow> = {}): WhatIfRequestRow {
  return {
    id,
    status: 'submitted',
    programId: 'prog-1',
    projectId: `project-${id}`,
    startsAt: new Date((JAN + 2 * DAY) * 1000),
    endsAt: new Date((JAN + 12 * DAY) * 1000),
    sector: null,
    organizationType: 'university',
    programEndsAt: new Date((JAN + 90 * DAY) * 1000),
    ...overrides,
  };
}

function line(
  id: string,
  requestId: string,
  overrides: Partial<RequestReservedLine> = {},
): RequestReservedLine {
  return {
    id,
    requestId,
    gpuModel: 'H100',
    servers: 2,
    startsAt: null,
    endsAt: null,
    sameInterconnectDomain: false,
    ...overrides,
  };
}

function cell(month: string, reserved: bigint): UtilizationCell {
  return {
    gpuModel: 'H100',
    month,
    reservedGpuSeconds: reserved,
    capacityGpuSeconds: 1000n,
    ratio: Number(reserved) / 1000,
    reservedBySector: { national: 0n, industry: 0n, academia: reserved, unassigned: 0n },
  };
}

describe('namedCandidates', () => {
  it('answers the named requests in the order given, each once', () => {
    const rows = [request('b'), request('a')];
    expect(namedCandidates(['a', 'b', 'a'], rows, undefined).map((row) => row.id)).toEqual(['a', 'b']);
  });

  it('refuses an unknown request as not found, naming it', () => {
    expect(() => namedCandidates(['a', 'ghost'], [request('a')], undefined)).toThrow(
      expect.objectContaining({ kind: 'not_found', message: expect.stringContaining('ghost') }),
    );
  });

  it('refuses requests that are not pending, with their states', () => {
    const rows = [request('a'), request('b', { status: 'approved' })];
    expect(() => namedCandidates(['a', 'b'], rows, undefined)).toThrow(
      expect.objectContaining({
        code: 'REQUEST_NOT_PENDING',
        details: { requests: [{ id: 'b', status: 'approved' }] },
      }),
    );
  });

  it('accepts under review, and refuses requests of another program than the one named', () => {
    const rows = [request('a', { status: 'under_review' }), request('b', { programId: 'prog-2' })];
    expect(namedCandidates(['a'], rows.slice(0, 1), 'prog-1')).toHaveLength(1);
    expect(() => namedCandidates(['a', 'b'], rows, 'prog-1')).toThrow(
      expect.objectContaining({
        code: 'REQUEST_NOT_IN_PROGRAM',
        message: expect.stringContaining('b belongs'),
      }),
    );
  });
});

describe('whatIfRequests', () => {
  it('plans each line after the queue, in its own window or else its request’s, ending by the program end', () => {
    const candidates = [request('r1', { sector: 'industry', organizationType: 'startup' })];
    const own = new Date((JAN + 5 * DAY) * 1000);
    const lines = [
      line('l1', 'r1'),
      line('l2', 'r1', { startsAt: own, endsAt: new Date(own.getTime() + DAY * 1000) }),
    ];
    expect(whatIfRequests(lines, candidates, 3)).toEqual([
      expect.objectContaining({
        lineId: 'l1',
        sector: 'industry',
        requestedStart: JAN + 2 * DAY,
        durationSeconds: 10 * DAY,
        latestEnd: JAN + 90 * DAY,
        orderKey: 3,
      }),
      expect.objectContaining({
        lineId: 'l2',
        requestedStart: JAN + 5 * DAY,
        durationSeconds: DAY,
        orderKey: 4,
      }),
    ]);
  });

  it('orders lines by the candidates’ order, then GPU model', () => {
    const candidates = [request('r2'), request('r1')];
    const lines = [
      line('x', 'r1'),
      line('y', 'r2', { gpuModel: 'H200' }),
      line('z', 'r2', { gpuModel: 'A100' }),
    ];
    expect(orderLines(lines, candidates).map((l) => l.id)).toEqual(['z', 'y', 'x']);
  });
});

describe('shapeWhatIf', () => {
  const candidates = [request('r1'), request('r2')];
  const lines = [line('l1', 'r1'), line('l2', 'r2')];
  const asked = whatIfRequests(lines, candidates, 1);
  const placed: RequestOutcome = {
    status: 'placed',
    lineId: 'l1',
    programId: 'prog-1',
    sector: 'academia',
    gpuModel: 'H100',
    servers: 2,
    round: 1,
    clusterId: 'c1',
    nodeIds: ['n1', 'n2'],
    start: JAN + 40 * DAY,
    end: JAN + 50 * DAY,
    delaySeconds: 38 * DAY,
  };
  const waitlisted = (lineId: string): RequestOutcome => ({
    status: 'waitlisted',
    lineId,
    programId: 'prog-1',
    sector: 'academia',
    gpuModel: 'H100',
    servers: 2,
    round: 1,
    earliestFeasibleStart: JAN + 70 * DAY,
    code: 'ENDS_AFTER_LATEST_END',
    blockedBy: 'capacity',
    reason: 'No room before the program ends.',
  });
  const result = shapeWhatIf({
    candidates,
    lines,
    asked,
    queueIds: ['queued-1'],
    input: { months, plannableFrom: JAN },
    calendar: { clusterNames: new Map([['c1', 'cluster one']]), nodeNames: new Map([['n1', 'node-1']]) },
    plan: {
      outcomes: [waitlisted('queued-1'), placed, waitlisted('l2')],
      utilization: [cell('2026-01', 100n), cell('2026-02', 300n), cell('2026-03', 0n)],
      utilizationBefore: [cell('2026-02', 200n)],
    },
    planningMs: 7,
  });

  it('answers a placed line with where and when, names where known', () => {
    expect(result.lines[0]).toMatchObject({
      requestId: 'r1',
      requestLineId: 'l1',
      projectId: 'project-r1',
      fits: true,
      clusterName: 'cluster one',
      nodeNames: ['node-1', 'n2'],
      startsAt: new Date((JAN + 40 * DAY) * 1000).toISOString(),
      endsAt: new Date((JAN + 50 * DAY) * 1000).toISOString(),
      delaySeconds: 38 * DAY,
      earliestFeasibleStart: null,
      code: null,
    });
  });

  it('answers a waitlisted line with the earliest start offered and why', () => {
    expect(result.lines[1]).toMatchObject({
      fits: false,
      clusterId: null,
      nodeNames: [],
      startsAt: null,
      earliestFeasibleStart: new Date((JAN + 70 * DAY) * 1000).toISOString(),
      code: 'ENDS_AFTER_LATEST_END',
      reason: 'No room before the program ends.',
    });
  });

  it('says per request whether every line fits, and how the queue ahead fared', () => {
    expect(result.requests).toEqual([
      { requestId: 'r1', status: 'submitted', reservedLines: 1, fits: true },
      { requestId: 'r2', status: 'submitted', reservedLines: 1, fits: false },
    ]);
    expect(result.queueAhead).toEqual({ lines: 1, placed: 0, waitlisted: 1 });
  });

  it('shows utilization before and after only for months starting before the last end, as exact strings', () => {
    // The last end is the placed line's (day 50): March starts on day 59 and is left out.
    expect(result.utilization.map((row) => row.month)).toEqual(['2026-01', '2026-02']);
    expect(result.utilization[1]).toEqual({
      gpuModel: 'H100',
      month: '2026-02',
      before: { reservedGpuSeconds: '200', capacityGpuSeconds: '1000', ratio: 0.2 },
      after: { reservedGpuSeconds: '300', capacityGpuSeconds: '1000', ratio: 0.3 },
    });
    expect(result.utilization[0].before).toEqual({
      reservedGpuSeconds: '0',
      capacityGpuSeconds: '0',
      ratio: 0,
    });
    expect(result.horizon).toEqual({
      from: new Date(JAN * 1000).toISOString(),
      to: new Date((JAN + 90 * DAY) * 1000).toISOString(),
    });
    expect(result.planningMs).toBe(7);
  });
});
