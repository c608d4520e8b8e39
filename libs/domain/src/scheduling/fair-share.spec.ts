import fc from 'fast-check';
import {
  checkQueueLanes,
  compareEntitlement,
  decayUsage,
  entitledGpus,
  orderQueue,
  partitionCapacityGpus,
  projectFairShareRanks,
  queueInOrder,
} from './fair-share.js';
import type {
  AllocationQuota,
  PartitionSnapshot,
  PoolNode,
  QueueLane,
  QueuedWorkload,
  RunningWorkload,
} from './types.js';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);

function nodes(count: number): PoolNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `n${i}`,
    domain: 'd',
    gpusTotal: 8,
    gpusFree: 8,
    state: 'up' as const,
  }));
}

function queued(id: string, over: Partial<QueuedWorkload> = {}): QueuedWorkload {
  return {
    id,
    allocationId: 'a',
    projectId: 'p',
    programId: 'P',
    gpus: 1,
    walltimeSeconds: 3600,
    priorityTier: 0,
    queuedAt: new Date(T0 - 1000),
    ...over,
  };
}

function snapshot(over: Partial<PartitionSnapshot>): PartitionSnapshot {
  const allocation: AllocationQuota = {
    allocationId: 'a',
    remainingGpuSeconds: 10n ** 12n,
    maxConcurrentGpus: 10_000,
    gpusInUse: 0,
    admitting: true,
  };
  return {
    gpuModel: 'H200',
    gpusPerNode: 8,
    now: new Date(T0),
    nodes: nodes(10),
    queued: [],
    running: [],
    allocations: new Map([['a', allocation]]),
    entitlementsBasisPoints: new Map(),
    projectUsage: new Map(),
    projectShares: new Map(),
    settings: { fairShareHalfLifeSeconds: 86_400, backfill: true, preemption: false, estimateLimit: 10 },
    ...over,
  };
}

const ids = (ws: QueuedWorkload[]): string[] => ws.map((w) => w.id);

describe('decayUsage', () => {
  it('halves usage every half-life', () => {
    expect(decayUsage(1000, 0, 3600)).toBe(1000);
    expect(decayUsage(1000, 3600, 3600)).toBeCloseTo(500, 9);
    expect(decayUsage(1000, 7200, 3600)).toBeCloseTo(250, 9);
  });

  it('treats negative age as none, no half-life as no memory, and non-positive usage as zero', () => {
    expect(decayUsage(1000, -5, 3600)).toBe(1000);
    expect(decayUsage(1000, 10, 0)).toBe(0);
    expect(decayUsage(-3, 10, 60)).toBe(0);
  });

  it('is monotone: older usage never weighs more', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e7), fc.nat(1e7), fc.integer({ min: 1, max: 1e7 }), (u, a, b, h) => {
        const [young, old] = a <= b ? [a, b] : [b, a];
        expect(decayUsage(u, old, h)).toBeLessThanOrEqual(decayUsage(u, young, h));
      }),
    );
  });
});

describe('entitlements', () => {
  it('floors capacity × basis points / 10000 and counts every node that is not down', () => {
    expect(entitledGpus(50_000, 3333)).toBe(16_665);
    expect(entitledGpus(7, 5000)).toBe(3);
    expect(entitledGpus(100, 0)).toBe(0);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 34 }),
        fc.integer({ min: 1, max: 10_000 }),
        (capacity, bp) => {
          expect(entitledGpus(capacity, bp)).toBe(Number((BigInt(capacity) * BigInt(bp)) / 10000n));
        },
      ),
      { numRuns: 2000 },
    );
    expect(entitledGpus(1_759_218_604, 9999)).toBe(Number((1_759_218_604n * 9999n) / 10000n));
    const ns = nodes(3);
    ns[0] = { ...ns[0], state: 'down' };
    ns[1] = { ...ns[1], state: 'draining' };
    expect(partitionCapacityGpus(ns)).toBe(16);
  });

  it('compares below-entitlement programs by running/entitled ratio without dividing', () => {
    expect(compareEntitlement(5, 10, 0, 1)).toBeGreaterThan(0); // 0.5 vs 0
    expect(compareEntitlement(1, 3, 2, 6)).toBe(0); // equal ratios
    expect(compareEntitlement(9, 10, 10, 10)).toBeLessThan(0); // below beats at
    expect(compareEntitlement(11, 10, 50, 10)).toBe(0); // both above: not separated here
  });
});

describe('projectFairShareRanks', () => {
  it('ranks by usage / share, equal ratios sharing a rank, projects without a share last', () => {
    const ranks = projectFairShareRanks(
      ['a', 'b', 'c', 'd', 'e'],
      new Map([
        ['a', 100],
        ['b', 50],
        ['c', 200],
        ['d', 0],
        ['e', 1],
      ]),
      new Map([
        ['a', 10],
        ['b', 10],
        ['c', 20],
        ['d', 0],
        ['e', 1000],
      ]),
    );
    expect(Object.fromEntries(ranks)).toEqual({ e: 0, b: 1, a: 2, c: 2, d: 3 });
  });
});

describe('orderQueue', () => {
  it('puts a program below its entitlement before programs at or above it', () => {
    const s = snapshot({
      entitlementsBasisPoints: new Map([
        ['Rich', 5000],
        ['Poor', 5000],
      ]),
      running: [running('r1', 'Rich', 40)],
      queued: [
        queued('rich-old', { programId: 'Rich', queuedAt: new Date(T0 - 9e6) }),
        queued('poor-new', { programId: 'Poor' }),
      ],
    });
    expect(ids(orderQueue(s))).toEqual(['poor-new', 'rich-old']);
  });

  it('projects running GPUs along the order, so a short program does not take the whole queue', () => {
    // 80 GPUs: Short is entitled to 40 and runs 36; Other is entitled to 40 and runs 39.
    const s = snapshot({
      entitlementsBasisPoints: new Map([
        ['Short', 5000],
        ['Other', 5000],
      ]),
      running: [running('r1', 'Short', 36), running('r2', 'Other', 39)],
      queued: [
        queued('s1', { programId: 'Short', gpus: 4, queuedAt: new Date(T0 - 40) }),
        queued('s2', { programId: 'Short', gpus: 4, queuedAt: new Date(T0 - 30) }),
        queued('o1', { programId: 'Other', gpus: 1, queuedAt: new Date(T0 - 20) }),
        queued('s3', { programId: 'Short', gpus: 4, queuedAt: new Date(T0 - 10) }),
      ],
    });
    // s1 (36/40) first; then Short is at 40/40 and Other (39/40) is below: o1; then by age.
    expect(ids(orderQueue(s))).toEqual(['s1', 'o1', 's2', 's3']);
  });

  it('then project fair share, then higher tier, then older, then id', () => {
    const s = snapshot({
      projectUsage: new Map([
        ['heavy', 1000],
        ['light', 10],
      ]),
      projectShares: new Map([
        ['heavy', 1],
        ['light', 1],
      ]),
      queued: [
        queued('h', { projectId: 'heavy', priorityTier: 9, queuedAt: new Date(T0 - 9e6) }),
        queued('l-low-old', { projectId: 'light', priorityTier: 0, queuedAt: new Date(T0 - 5000) }),
        queued('l-high', { projectId: 'light', priorityTier: 2 }),
        queued('l-low-b', { projectId: 'light', priorityTier: 0 }),
        queued('l-low-a', { projectId: 'light', priorityTier: 0 }),
      ],
    });
    expect(ids(orderQueue(s))).toEqual(['l-high', 'l-low-old', 'l-low-a', 'l-low-b', 'h']);
  });

  it('is a deterministic permutation whatever the input order', () => {
    const workload = fc.record({
      id: fc.string({ minLength: 1, maxLength: 4 }),
      projectId: fc.constantFrom('p1', 'p2', 'p3'),
      programId: fc.constantFrom('A', 'B', 'C'),
      gpus: fc.integer({ min: 1, max: 16 }),
      priorityTier: fc.integer({ min: 0, max: 2 }),
      age: fc.nat(5),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(workload, { selector: (w) => w.id, maxLength: 30 }),
        fc.array(fc.nat(10_000), { minLength: 3, maxLength: 3 }),
        fc.array(fc.nat(1000), { minLength: 3, maxLength: 3 }),
        (raw, bps, usage) => {
          const q = raw.map((w) => queued(w.id, { ...w, queuedAt: new Date(T0 - w.age * 1000) }));
          const s = snapshot({
            queued: q,
            entitlementsBasisPoints: new Map([
              ['A', Math.floor(bps[0] / 3)],
              ['B', Math.floor(bps[1] / 3)],
              ['C', Math.floor(bps[2] / 3)],
            ]),
            projectUsage: new Map([
              ['p1', usage[0]],
              ['p2', usage[1]],
              ['p3', usage[2]],
            ]),
            projectShares: new Map([
              ['p1', 1],
              ['p2', 2],
              ['p3', 3],
            ]),
          });
          const once = ids(orderQueue(s));
          expect([...once].sort()).toEqual(q.map((w) => w.id).sort());
          expect(ids(orderQueue({ ...s, queued: [...q].reverse() }))).toEqual(once);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('orderQueue with the starvation guard', () => {
  const DAY = 86_400_000;

  it('puts workloads queued at least the guard first, oldest first, then the fair-share order', () => {
    const s = snapshot({
      queued: [
        queued('fresh-light', { projectId: 'light', queuedAt: new Date(T0 - 1000) }),
        queued('starved-b', { projectId: 'heavy', queuedAt: new Date(T0 - 4 * DAY) }),
        queued('starved-a', { projectId: 'heavy', queuedAt: new Date(T0 - 5 * DAY) }),
        queued('old-heavy', { projectId: 'heavy', queuedAt: new Date(T0 - 2 * DAY) }),
      ],
      projectUsage: new Map([
        ['heavy', 1e9],
        ['light', 0],
      ]),
      projectShares: new Map([
        ['heavy', 1],
        ['light', 1],
      ]),
    });
    // Without the guard the heavy project's work waits behind the light project's.
    expect(ids(orderQueue(s))).toEqual(['fresh-light', 'starved-a', 'starved-b', 'old-heavy']);
    const guarded = { ...s, settings: { ...s.settings, starvationAfterSeconds: 3 * 86_400 } };
    expect(ids(orderQueue(guarded))).toEqual(['starved-a', 'starved-b', 'fresh-light', 'old-heavy']);
  });

  it('counts the starving workloads towards their programs, so entitlement order sees them', () => {
    // Program A is entitled to 8 GPUs (10% of 80); its starving 8-GPU workload fills that, so the
    // fresh workloads of A come after those of B, which is still below its entitlement.
    const s = snapshot({
      queued: [
        queued('a-starving', { programId: 'A', gpus: 8, queuedAt: new Date(T0 - 10 * DAY) }),
        queued('a-fresh', { programId: 'A', gpus: 1, queuedAt: new Date(T0 - 2000) }),
        queued('b-fresh', { programId: 'B', gpus: 1, queuedAt: new Date(T0 - 1000) }),
      ],
      entitlementsBasisPoints: new Map([
        ['A', 1000],
        ['B', 1000],
      ]),
      settings: {
        fairShareHalfLifeSeconds: 86_400,
        backfill: true,
        preemption: false,
        estimateLimit: 10,
        starvationAfterSeconds: 86_400,
      },
    });
    expect(ids(orderQueue(s))).toEqual(['a-starving', 'b-fresh', 'a-fresh']);
  });
});

function running(id: string, programId: string, gpus: number): RunningWorkload {
  return {
    id,
    allocationId: 'a',
    projectId: 'p',
    programId,
    gpus,
    placement: [],
    admittedAt: new Date(T0 - 1000),
    expectedEndAt: new Date(T0 + 3_600_000),
    borrowed: false,
  };
}

describe("orderQueue with ordering 'fifo'", () => {
  it('orders by queuedAt then id only, ignoring entitlement, fair share and tiers', () => {
    const base = snapshot({});
    const s = snapshot({
      entitlementsBasisPoints: new Map([
        ['Rich', 5000],
        ['Poor', 5000],
      ]),
      running: [running('r1', 'Rich', 40)],
      projectUsage: new Map([['heavy', 1e9]]),
      projectShares: new Map([
        ['heavy', 1],
        ['light', 1],
      ]),
      queued: [
        queued('poor-new', {
          programId: 'Poor',
          projectId: 'light',
          priorityTier: 9,
          queuedAt: new Date(T0 - 10),
        }),
        queued('rich-b', { programId: 'Rich', projectId: 'heavy', queuedAt: new Date(T0 - 500) }),
        queued('rich-old', { programId: 'Rich', projectId: 'heavy', queuedAt: new Date(T0 - 9e6) }),
        queued('rich-a', { programId: 'Rich', projectId: 'heavy', queuedAt: new Date(T0 - 500) }),
      ],
      settings: { ...base.settings, ordering: 'fifo' },
    });
    expect(ids(orderQueue(s))).toEqual(['rich-old', 'rich-a', 'rich-b', 'poor-new']);
    // The default (fair_share) puts the program below its entitlement first.
    expect(ids(orderQueue({ ...s, settings: base.settings }))[0]).toBe('poor-new');
  });
});

/** `queued` grouped the way `PartitionSnapshot.queueLanes` wants: (program, project, tier), by age. */
function lanesOf(q: readonly QueuedWorkload[]): QueueLane[] {
  const byKey = new Map<string, QueuedWorkload[]>();
  for (const w of q) {
    const key = `${w.programId}|${w.projectId}|${w.priorityTier}`;
    const lane = byKey.get(key) ?? [];
    lane.push(w);
    byKey.set(key, lane);
  }
  const lanes = [...byKey.values()];
  for (const lane of lanes) {
    lane.sort(
      (a, b) => a.queuedAt.getTime() - b.queuedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }
  return lanes;
}

describe('queueInOrder over queueLanes', () => {
  it('gives exactly the order computed from the whole queue (entitlement, fair share, tiers, guard)', () => {
    const workload = fc.record({
      id: fc.string({ minLength: 1, maxLength: 4 }),
      projectId: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
      programId: fc.constantFrom('A', 'B', 'C'),
      allocationId: fc.constantFrom('a', 'closed'),
      gpus: fc.integer({ min: 1, max: 16 }),
      priorityTier: fc.integer({ min: 0, max: 2 }),
      age: fc.nat(12),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(workload, { selector: (w) => w.id, maxLength: 40 }),
        fc.array(fc.nat(10_000), { minLength: 3, maxLength: 3 }),
        fc.array(fc.nat(1000), { minLength: 4, maxLength: 4 }),
        fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C'), fc.integer({ min: 1, max: 16 })), { maxLength: 5 }),
        fc.option(fc.integer({ min: 1, max: 12 })),
        fc.integer({ min: 0, max: 3 }),
        (raw, bps, usage, run, guard, shareOfP4) => {
          const q = raw.map((w) => queued(w.id, { ...w, queuedAt: new Date(T0 - w.age * 1000) }));
          const s = snapshot({
            queued: q,
            running: run.map(([programId, gpus], i) => running(`r${i}`, programId, gpus)),
            allocations: new Map<string, AllocationQuota>([
              [
                'a',
                {
                  allocationId: 'a',
                  remainingGpuSeconds: 1n,
                  maxConcurrentGpus: 1,
                  gpusInUse: 0,
                  admitting: true,
                },
              ],
              [
                'closed',
                {
                  allocationId: 'closed',
                  remainingGpuSeconds: 0n,
                  maxConcurrentGpus: 1,
                  gpusInUse: 0,
                  admitting: false,
                },
              ],
            ]),
            entitlementsBasisPoints: new Map([
              ['A', Math.floor(bps[0] / 3)],
              ['B', Math.floor(bps[1] / 3)],
              ['C', Math.floor(bps[2] / 3)],
            ]),
            projectUsage: new Map(usage.map((u, i) => [`p${i + 1}`, u])),
            projectShares: new Map([
              ['p1', 1],
              ['p2', 2],
              ['p3', 3],
              ['p4', shareOfP4],
            ]),
            settings: {
              fairShareHalfLifeSeconds: 86_400,
              backfill: true,
              preemption: true,
              estimateLimit: 0,
              starvationAfterSeconds: guard ?? undefined,
            },
          });
          const lanes = lanesOf(q);
          expect(checkQueueLanes({ queued: q, queueLanes: lanes })).toBeNull();
          expect(ids([...queueInOrder({ ...s, queueLanes: lanes })])).toEqual(ids(orderQueue(s)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('checkQueueLanes names a lane out of age order, a mixed lane, a missing and a foreign workload', () => {
    const a = queued('a', { queuedAt: new Date(T0 - 2000) });
    const b = queued('b', { queuedAt: new Date(T0 - 1000) });
    const other = queued('c', { projectId: 'other' });
    expect(checkQueueLanes({ queued: [a, b], queueLanes: [[b, a]] })).toMatch(
      /not in \(queuedAt, id\) order at a/,
    );
    expect(checkQueueLanes({ queued: [a, other], queueLanes: [[a, other]] })).toMatch(/mixes/);
    expect(checkQueueLanes({ queued: [a, b], queueLanes: [[a]] })).toMatch(
      /1 queued workloads are in no lane/,
    );
    expect(checkQueueLanes({ queued: [a], queueLanes: [[a, b]] })).toMatch(/b, which is not queued/);
    expect(checkQueueLanes({ queued: [a, b], queueLanes: [[a, b]] })).toBeNull();
  });
});
