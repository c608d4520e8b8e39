import fc from 'fast-check';
import { runSchedulingCycle } from './cycle.js';
import { entitledGpus, partitionCapacityGpus } from './fair-share.js';
import { createCapacityIndex, placeWorkload } from './placement.js';
import type {
  AllocationQuota,
  CycleDecision,
  NodeState,
  PartitionSnapshot,
  PlacementPart,
  PoolNode,
  QueuedWorkload,
  RunningWorkload,
  SchedulingSettings,
} from './types.js';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const HOUR = 3600;
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

// ---------------------------------------------------------------- builders for hand-written scenarios

function pool(domains: Record<string, number>, gpusPerNode = 8): PoolNode[] {
  return Object.entries(domains).flatMap(([domain, count]) =>
    Array.from({ length: count }, (_, i) => ({
      id: `${domain}-n${i}`,
      domain,
      gpusTotal: gpusPerNode,
      gpusFree: gpusPerNode,
      state: 'up' as const,
    })),
  );
}

function allocation(id: string, over: Partial<AllocationQuota> = {}): AllocationQuota {
  return {
    allocationId: id,
    remainingGpuSeconds: 10n ** 12n,
    maxConcurrentGpus: 10_000,
    gpusInUse: 0,
    admitting: true,
    ...over,
  };
}

let sequence = 0;
function q(id: string, gpus: number, over: Partial<QueuedWorkload> = {}): QueuedWorkload {
  sequence += 1;
  return {
    id,
    allocationId: 'alloc',
    projectId: 'proj',
    programId: 'prog',
    gpus,
    walltimeSeconds: HOUR,
    priorityTier: 0,
    queuedAt: at(-10_000 + sequence),
    ...over,
  };
}

function r(
  id: string,
  placement: PlacementPart[],
  endSeconds: number,
  over: Partial<RunningWorkload> = {},
): RunningWorkload {
  return {
    id,
    allocationId: 'other-alloc',
    projectId: 'other',
    programId: 'other-prog',
    gpus: placement.reduce((s, p) => s + p.gpus, 0),
    placement,
    admittedAt: at(-HOUR),
    expectedEndAt: at(endSeconds),
    borrowed: false,
    ...over,
  };
}

/** A snapshot whose nodes' gpusFree are consistent with the running workloads. */
function scenario(
  over: Omit<Partial<PartitionSnapshot>, 'settings'> & { settings?: Partial<SchedulingSettings> },
): PartitionSnapshot {
  const nodes = (over.nodes ?? pool({ A: 2 })).map((n) => ({ ...n }));
  const running = over.running ?? [];
  for (const w of running) {
    for (const p of w.placement) nodes.find((n) => n.id === p.nodeId)!.gpusFree -= p.gpus;
  }
  return {
    gpuModel: 'H200',
    gpusPerNode: 8,
    now: new Date(T0),
    queued: [],
    allocations: new Map([
      ['alloc', allocation('alloc')],
      ['other-alloc', allocation('other-alloc')],
    ]),
    entitlementsBasisPoints: new Map(),
    projectUsage: new Map(),
    projectShares: new Map(),
    ...over,
    nodes,
    running,
    settings: {
      fairShareHalfLifeSeconds: 86_400,
      backfill: true,
      preemption: false,
      estimateLimit: 100,
      ...over.settings,
    },
  };
}

const admittedIds = (d: CycleDecision): string[] => d.admitted.map((a) => a.workloadId);
const waitingOf = (d: CycleDecision, id: string) => d.waiting.find((w) => w.workloadId === id)!;

// ---------------------------------------------------------------- scenarios

describe('runSchedulingCycle — scenarios', () => {
  it('admits in order, holding gpus × walltime and packing small work by best fit', () => {
    const d = runSchedulingCycle(
      scenario({
        running: [r('busy', [{ nodeId: 'A-n1', gpus: 6 }], HOUR)],
        queued: [q('w1', 2, { walltimeSeconds: 2 * HOUR }), q('w2', 8)],
      }),
    );
    expect(d.admitted).toEqual([
      {
        workloadId: 'w1',
        placement: [{ nodeId: 'A-n1', gpus: 2 }],
        holdGpuSeconds: 14_400n,
        borrowed: true,
        backfilled: false,
      },
      {
        workloadId: 'w2',
        placement: [{ nodeId: 'A-n0', gpus: 8 }],
        holdGpuSeconds: 28_800n,
        borrowed: true,
        backfilled: false,
      },
    ]);
    expect(d.waiting).toEqual([]);
    expect(d.reservation).toBeNull();
  });

  it('quota, concurrency cap and a closed allocation make a workload wait without blocking others', () => {
    const d = runSchedulingCycle(
      scenario({
        allocations: new Map([
          ['alloc', allocation('alloc')],
          ['poor', allocation('poor', { remainingGpuSeconds: 3599n })],
          ['capped', allocation('capped', { maxConcurrentGpus: 4, gpusInUse: 2 })],
          ['closed', allocation('closed', { admitting: false })],
        ]),
        queued: [
          q('quota', 1, { allocationId: 'poor' }),
          q('cap', 4, { allocationId: 'capped' }),
          q('closed', 1, { allocationId: 'closed' }),
          q('ok', 1),
        ],
      }),
    );
    expect(admittedIds(d)).toEqual(['ok']);
    expect(d.waiting.map((w) => [w.workloadId, w.reason, w.position])).toEqual([
      ['quota', 'quota', 1],
      ['cap', 'concurrency_cap', 2],
      ['closed', 'allocation_not_admitting', 3],
    ]);
    expect(waitingOf(d, 'quota').detail).toContain('has 0.999722 GPU-hours left and this workload needs 1');
    expect(waitingOf(d, 'cap').detail).toContain('has 2 of its 4 concurrent GPUs in use');
    expect(d.waiting.every((w) => w.estimatedStartAt === null)).toBe(true);
  });

  it('a gang takes whole nodes of one domain; the blocked head gets a reservation and a readable detail', () => {
    const d = runSchedulingCycle(
      scenario({
        nodes: pool({ A: 2, B: 2 }),
        running: [
          r('a0', [{ nodeId: 'A-n0', gpus: 1 }], 2 * HOUR),
          r('b0', [{ nodeId: 'B-n0', gpus: 1 }], 5 * HOUR + 20 * 60),
        ],
        queued: [q('gang', 16), q('next', 8)],
      }),
    );
    // A-n0 frees at +2h: then domain A is wholly free.
    expect(d.reservation).toEqual({ workloadId: 'gang', startAt: at(2 * HOUR) });
    const head = waitingOf(d, 'gang');
    expect(head).toMatchObject({ reason: 'capacity', position: 1, estimatedStartAt: at(2 * HOUR) });
    expect(head.detail).toBe(
      'Waiting for 16 H200 GPUs (2 whole nodes in one interconnect domain); first in line, GPUs are reserved for it; ' +
        '0 workloads ahead; estimated start 11:00 UTC',
    );
    // `next` (1 h, ends before +2 h) backfills on a whole node of A.
    expect(d.admitted).toEqual([
      {
        workloadId: 'next',
        placement: [{ nodeId: 'A-n1', gpus: 8 }],
        holdGpuSeconds: 28_800n,
        borrowed: true,
        backfilled: true,
      },
    ]);
  });

  it('backfill: a long workload may use only GPUs the head does not need at its reservation', () => {
    const d = runSchedulingCycle(
      scenario({
        nodes: pool({ A: 2, B: 2 }),
        running: [
          r('a0', [{ nodeId: 'A-n0', gpus: 1 }], 2 * HOUR),
          r('b0', [{ nodeId: 'B-n0', gpus: 1 }], 10 * HOUR),
        ],
        queued: [
          q('gang', 16),
          q('long-8', 8, { walltimeSeconds: 5 * HOUR }), // only whole free node now is A-n1 or B-n1; A-n1 is the head's
          q('long-7', 7, { walltimeSeconds: 5 * HOUR }),
          q('long-8b', 8, { walltimeSeconds: 5 * HOUR }),
        ],
      }),
    );
    expect(d.reservation?.startAt).toEqual(at(2 * HOUR));
    // long-8 goes to B-n1 (spare: B is not needed by the head); long-7 fits on B-n0 (7 free, not needed).
    expect(d.admitted.map((a) => [a.workloadId, a.placement, a.backfilled])).toEqual([
      ['long-8', [{ nodeId: 'B-n1', gpus: 8 }], true],
      ['long-7', [{ nodeId: 'B-n0', gpus: 7 }], true],
    ]);
    // long-8b fits now on A-n1, but A-n1 is reserved for the head.
    expect(waitingOf(d, 'long-8b')).toMatchObject({ reason: 'reserved_for_head', position: 2 });
    expect(waitingOf(d, 'long-8b').detail).toContain('reserved for workload gang');
  });

  it('without backfill nothing after the blocked head starts', () => {
    const d = runSchedulingCycle(
      scenario({
        running: [r('a0', [{ nodeId: 'A-n0', gpus: 4 }], HOUR)],
        queued: [q('gang', 16), q('small', 1, { walltimeSeconds: 60 }), q('big', 8)],
        settings: { backfill: false },
      }),
    );
    expect(d.admitted).toEqual([]);
    expect(d.reservation).toEqual({ workloadId: 'gang', startAt: at(HOUR) });
    expect(d.waiting.map((w) => [w.workloadId, w.reason, w.estimatedStartAt])).toEqual([
      ['gang', 'capacity', at(HOUR)],
      ['small', 'behind_others', at(2 * HOUR)],
      ['big', 'behind_others', at(2 * HOUR)],
    ]);
  });

  it('a workload no placement can ever give waits without blocking anyone', () => {
    const d = runSchedulingCycle(scenario({ queued: [q('huge', 64), q('odd', 12), q('fine', 8)] }));
    expect(admittedIds(d)).toEqual(['fine']);
    expect(d.reservation).toBeNull();
    expect(waitingOf(d, 'huge').detail).toContain('more than any interconnect domain');
    expect(waitingOf(d, 'odd').detail).toContain('multiple of 8');
    expect(waitingOf(d, 'huge').estimatedStartAt).toBeNull();
  });

  it('preempts the youngest borrowed workloads of a program above its entitlement, no more than needed', () => {
    // 4 nodes = 32 GPUs; Entitled is entitled to 16 and runs 0; Greedy is entitled to 8 and runs 32.
    const greedy = { programId: 'greedy', borrowed: true };
    const d = runSchedulingCycle(
      scenario({
        nodes: pool({ A: 4 }),
        running: [
          r('g-old', [{ nodeId: 'A-n0', gpus: 8 }], 9 * HOUR, {
            ...greedy,
            borrowed: false,
            admittedAt: at(-5 * HOUR),
          }),
          r('g-mid', [{ nodeId: 'A-n1', gpus: 8 }], 9 * HOUR, { ...greedy, admittedAt: at(-3 * HOUR) }),
          r('g-young', [{ nodeId: 'A-n2', gpus: 4 }], 9 * HOUR, { ...greedy, admittedAt: at(-HOUR) }),
          r('g-young2', [{ nodeId: 'A-n2', gpus: 4 }], 9 * HOUR, { ...greedy, admittedAt: at(-2 * HOUR) }),
          r('g-last', [{ nodeId: 'A-n3', gpus: 8 }], 9 * HOUR, { ...greedy, admittedAt: at(-4 * HOUR) }),
        ],
        entitlementsBasisPoints: new Map([
          ['entitled', 5000],
          ['greedy', 2500],
        ]),
        queued: [q('needs-8', 8, { programId: 'entitled' })],
        settings: { preemption: true },
      }),
    );
    // Youngest first: g-young frees 4 on A-n2 (not enough), g-young2 frees the rest of A-n2: fits.
    expect(d.preempted).toEqual([
      { workloadId: 'g-young', forProgramId: 'entitled' },
      { workloadId: 'g-young2', forProgramId: 'entitled' },
    ]);
    expect(d.admitted).toEqual([
      {
        workloadId: 'needs-8',
        placement: [{ nodeId: 'A-n2', gpus: 8 }],
        holdGpuSeconds: 28_800n,
        borrowed: false,
        backfilled: false,
      },
    ]);
  });

  it('does not preempt when the program is at its entitlement, or when only unborrowed work runs', () => {
    const base = {
      nodes: pool({ A: 1 }),
      entitlementsBasisPoints: new Map([
        ['entitled', 5000],
        ['greedy', 5000],
      ]),
      queued: [q('needs-4', 4, { programId: 'entitled' })],
      settings: { preemption: true },
    };
    const atEntitlement = runSchedulingCycle(
      scenario({
        ...base,
        running: [
          r('e', [{ nodeId: 'A-n0', gpus: 4 }], HOUR, { programId: 'entitled' }),
          r('g', [{ nodeId: 'A-n0', gpus: 4 }], HOUR, { programId: 'greedy', borrowed: true }),
        ],
      }),
    );
    expect(atEntitlement.preempted).toEqual([]);
    const unborrowed = runSchedulingCycle(
      scenario({ ...base, running: [r('g', [{ nodeId: 'A-n0', gpus: 8 }], HOUR, { programId: 'greedy' })] }),
    );
    expect(unborrowed.preempted).toEqual([]);
    expect(waitingOf(unborrowed, 'needs-4').reason).toBe('capacity');
  });

  it('estimates a concurrency-capped waiter from its own running workloads’ walltimes (issue 13 item 9)', () => {
    // `capped` may run 8 GPUs at once and runs 8 until +2 h; A-n1 is idle, so only the cap blocks.
    const d = runSchedulingCycle(
      scenario({
        allocations: new Map([
          ['alloc', allocation('alloc')],
          ['capped', allocation('capped', { maxConcurrentGpus: 8, gpusInUse: 8 })],
          ['other-alloc', allocation('other-alloc')],
        ]),
        running: [r('mine', [{ nodeId: 'A-n0', gpus: 8 }], 2 * HOUR, { allocationId: 'capped' })],
        queued: [q('next', 8, { allocationId: 'capped' }), q('after', 8, { allocationId: 'capped' })],
      }),
    );
    expect(d.admitted).toEqual([]);
    expect(d.waiting.map((w) => [w.workloadId, w.reason, w.estimatedStartAt])).toEqual([
      ['next', 'concurrency_cap', at(2 * HOUR)],
      // `next` holds the cap from +2 h for its 1 h walltime.
      ['after', 'concurrency_cap', at(3 * HOUR)],
    ]);
    expect(waitingOf(d, 'next').detail).toContain('estimated start 11:00 UTC');
  });

  it('gives estimates only up to estimateLimit and numbers positions among waiting workloads', () => {
    const d = runSchedulingCycle(
      scenario({
        nodes: pool({ A: 1 }),
        running: [r('busy', [{ nodeId: 'A-n0', gpus: 8 }], HOUR)],
        queued: [q('w1', 8), q('w2', 8), q('w3', 8)],
        settings: { estimateLimit: 2 },
      }),
    );
    expect(d.waiting.map((w) => [w.workloadId, w.position, w.estimatedStartAt])).toEqual([
      ['w1', 1, at(HOUR)],
      ['w2', 2, at(2 * HOUR)],
      ['w3', 3, null],
    ]);
    expect(waitingOf(d, 'w2').detail).toBe(
      'Waiting for 8 H200 GPUs; 1 workload ahead; estimated start 11:00 UTC',
    );
  });
});

// ---------------------------------------------------------------- properties

interface World {
  snapshot: PartitionSnapshot;
}

const PROGRAMS = ['P0', 'P1', 'P2'];

/**
 * Small random partitions (≤ 12 nodes of 4 or 8 GPUs in ≤ 3 domains) with running work placed
 * consistently. `contest`: one program (P0) entitled to a lot and running nothing, the others
 * running mostly borrowed work — the shape in which preemption happens. `scatter`: small running
 * work spread over the nodes and queued gangs among small work — the shape in which backfill happens.
 */
const worldArbitrary = (
  opts: { queuedMax?: number; preemption?: boolean; contest?: boolean; scatter?: boolean } = {},
): fc.Arbitrary<World> =>
  fc
    .record({
      gpusPerNode: fc.constantFrom(4, 8),
      domainSizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
      states: fc.array(fc.constantFrom<NodeState>('up', 'up', 'up', 'up', 'draining', 'down'), {
        minLength: 12,
        maxLength: 12,
      }),
      running: fc.array(
        fc.record({
          nodes: fc.integer({ min: 1, max: 2 }),
          small: fc.integer({ min: 1, max: 8 }),
          gang: fc.boolean(),
          program: fc.nat(2),
          alloc: fc.nat(3),
          endSeconds: fc.integer({ min: -600, max: 20 * HOUR }),
          ageSeconds: fc.integer({ min: 1, max: 10 * HOUR }),
          borrowed: fc.boolean(),
        }),
        { maxLength: 24 },
      ),
      queued: fc.array(
        fc.record({
          size: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(8, 16, 24, 12)),
          program: fc.nat(2),
          project: fc.nat(3),
          alloc: fc.nat(3),
          walltime: fc.integer({ min: 60, max: 12 * HOUR }),
          tier: fc.nat(2),
          age: fc.nat(5000),
        }),
        { maxLength: opts.queuedMax ?? 14 },
      ),
      allocations: fc.array(
        fc.record({
          remaining: fc.oneof(fc.bigInt({ min: 0n, max: 400_000n }), fc.constant(10n ** 9n)),
          cap: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(1000)),
          admitting: fc.oneof(fc.boolean(), fc.constant(true)),
        }),
        { minLength: 4, maxLength: 4 },
      ),
      bps: opts.contest
        ? fc.tuple(fc.integer({ min: 3000, max: 8000 }), fc.nat(1000), fc.nat(1000))
        : fc.array(fc.nat(5000), { minLength: 3, maxLength: 3 }),
      usage: fc.array(fc.nat(1000), { minLength: 4, maxLength: 4 }),
      backfill: fc.boolean(),
      preemption: opts.preemption === undefined ? fc.boolean() : fc.constant(opts.preemption),
      estimateLimit: fc.nat(20),
    })
    .map((g) => {
      const gpn = g.gpusPerNode;
      const nodes: PoolNode[] = [];
      g.domainSizes.forEach((size, d) => {
        for (let i = 0; i < size; i += 1) {
          nodes.push({
            id: `d${d}n${i}`,
            domain: `d${d}`,
            gpusTotal: gpn,
            gpusFree: gpn,
            state: g.states[nodes.length],
          });
        }
      });
      // Running work is placed on an index where every node counts as up (draining/down keep their work).
      const index = createCapacityIndex(
        nodes.map((n) => ({ ...n, state: 'up' as const })),
        gpn,
      );
      const running: RunningWorkload[] = [];
      g.running.forEach((x, i) => {
        const gpus =
          x.gang && !opts.scatter ? x.nodes * gpn : Math.min(opts.scatter ? 1 + (x.small % 3) : x.small, gpn);
        const placement = placeWorkload(index, gpus, gpn);
        if (!placement) return;
        running.push({
          id: `r${i}`,
          allocationId: `a${x.alloc}`,
          projectId: `p${x.alloc}`,
          programId: PROGRAMS[opts.contest ? 1 + (x.program % 2) : x.program],
          gpus,
          placement,
          admittedAt: at(-x.ageSeconds),
          expectedEndAt: at(x.endSeconds),
          borrowed: x.borrowed || (opts.contest === true && x.ageSeconds % 5 !== 0),
        });
      });
      for (const n of nodes) n.gpusFree = index.freeOf(n.id)!;
      const allocations = new Map<string, AllocationQuota>(
        g.allocations.map((a, i) => [
          `a${i}`,
          {
            allocationId: `a${i}`,
            remainingGpuSeconds: opts.contest && i === 0 ? 10n ** 9n : a.remaining,
            maxConcurrentGpus: opts.contest && i === 0 ? 1000 : a.cap,
            gpusInUse: running.filter((w) => w.allocationId === `a${i}`).reduce((s, w) => s + w.gpus, 0),
            admitting: a.admitting || i === 0,
          },
        ]),
      );
      const queued: QueuedWorkload[] = g.queued.map((x, i) => ({
        id: `q${i}`,
        allocationId: opts.contest ? 'a0' : `a${x.alloc}`,
        projectId: `p${x.project}`,
        programId: PROGRAMS[opts.contest ? 0 : x.program],
        gpus: opts.scatter ? (x.size <= 8 ? 1 + (x.size % 4) : 2 * gpn) : x.size,
        walltimeSeconds: x.walltime,
        // scatter: gangs first in line, so the small work behind them is backfill's to decide.
        priorityTier: opts.scatter && x.size > 8 ? 9 : x.tier,
        queuedAt: at(-x.age),
      }));
      const snapshot: PartitionSnapshot = {
        gpuModel: 'B200',
        gpusPerNode: gpn,
        now: new Date(T0),
        nodes,
        queued,
        running,
        allocations,
        entitlementsBasisPoints: new Map(
          PROGRAMS.map((p, i) => [p, opts.contest ? g.bps[i] : Math.floor(g.bps[i] * (2 / 3))]),
        ),
        projectUsage: new Map(g.usage.map((u, i) => [`p${i}`, u])),
        projectShares: new Map(g.usage.map((_, i) => [`p${i}`, i + 1])),
        settings: {
          fairShareHalfLifeSeconds: 86_400,
          backfill: g.backfill,
          preemption: g.preemption,
          estimateLimit: g.estimateLimit,
        },
      };
      return { snapshot };
    });

/** Node free GPUs after the decision: snapshot free + preempted released − admitted taken. */
function applyDecision(s: PartitionSnapshot, d: CycleDecision): Map<string, number> {
  const free = new Map(s.nodes.map((n) => [n.id, n.gpusFree]));
  const preempted = new Set(d.preempted.map((p) => p.workloadId));
  for (const w of s.running) {
    if (preempted.has(w.id)) for (const p of w.placement) free.set(p.nodeId, free.get(p.nodeId)! + p.gpus);
  }
  for (const a of d.admitted) for (const p of a.placement) free.set(p.nodeId, free.get(p.nodeId)! - p.gpus);
  return free;
}

const RUNS = { numRuns: 150 };

describe('runSchedulingCycle — properties', () => {
  it('decides every queued workload exactly once, positions 1..n among the waiting', () => {
    fc.assert(
      fc.property(worldArbitrary(), ({ snapshot: s }) => {
        const d = runSchedulingCycle(s);
        const decided = [...admittedIds(d), ...d.waiting.map((w) => w.workloadId)].sort();
        expect(decided).toEqual(s.queued.map((w) => w.id).sort());
        expect(d.waiting.map((w) => w.position)).toEqual(d.waiting.map((_, i) => i + 1));
        for (const w of d.waiting) {
          expect(w.detail.length).toBeGreaterThan(10);
          if (w.position > s.settings.estimateLimit && w.workloadId !== d.reservation?.workloadId) {
            expect(w.estimatedStartAt).toBeNull();
          }
          if (w.estimatedStartAt) expect(w.estimatedStartAt.getTime()).toBeGreaterThanOrEqual(T0);
        }
      }),
      RUNS,
    );
  });

  it('never puts more GPUs on a node than it has free, only on up nodes; gangs are whole nodes of one domain', () => {
    fc.assert(
      fc.property(worldArbitrary(), ({ snapshot: s }) => {
        const d = runSchedulingCycle(s);
        const byId = new Map(s.nodes.map((n) => [n.id, n]));
        const freeBefore = applyDecision(s, { ...d, admitted: [] });
        for (const [nodeId, free] of applyDecision(s, d)) {
          expect(free).toBeGreaterThanOrEqual(0);
          expect(free).toBeLessThanOrEqual(byId.get(nodeId)!.gpusTotal);
        }
        const gpusOf = new Map(s.queued.map((w) => [w.id, w.gpus]));
        for (const a of d.admitted) {
          const gpus = gpusOf.get(a.workloadId)!;
          expect(a.placement.reduce((sum, p) => sum + p.gpus, 0)).toBe(gpus);
          for (const p of a.placement) expect(byId.get(p.nodeId)!.state).toBe('up');
          if (gpus <= s.gpusPerNode) {
            expect(a.placement).toHaveLength(1);
          } else {
            expect(a.placement).toHaveLength(gpus / s.gpusPerNode);
            expect(new Set(a.placement.map((p) => p.nodeId)).size).toBe(a.placement.length);
            expect(new Set(a.placement.map((p) => byId.get(p.nodeId)!.domain)).size).toBe(1);
            for (const p of a.placement) {
              expect(p.gpus).toBe(s.gpusPerNode);
              expect(freeBefore.get(p.nodeId)).toBe(byId.get(p.nodeId)!.gpusTotal);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('never holds more than an allocation has, nor exceeds its concurrency cap, nor admits on a closed one', () => {
    fc.assert(
      fc.property(worldArbitrary(), ({ snapshot: s }) => {
        const d = runSchedulingCycle(s);
        const queued = new Map(s.queued.map((w) => [w.id, w]));
        const held = new Map<string, bigint>();
        const gpus = new Map<string, number>();
        for (const a of d.admitted) {
          const w = queued.get(a.workloadId)!;
          expect(a.holdGpuSeconds).toBe(BigInt(w.gpus) * BigInt(w.walltimeSeconds));
          expect(s.allocations.get(w.allocationId)!.admitting).toBe(true);
          held.set(w.allocationId, (held.get(w.allocationId) ?? 0n) + a.holdGpuSeconds);
          gpus.set(w.allocationId, (gpus.get(w.allocationId) ?? 0) + w.gpus);
        }
        const preempted = new Set(d.preempted.map((p) => p.workloadId));
        for (const [id, sum] of held) {
          const quota = s.allocations.get(id)!;
          expect(sum).toBeLessThanOrEqual(quota.remainingGpuSeconds);
          const released = s.running
            .filter((w) => w.allocationId === id && preempted.has(w.id))
            .reduce((t, w) => t + w.gpus, 0);
          expect(quota.gpusInUse - released + gpus.get(id)!).toBeLessThanOrEqual(quota.maxConcurrentGpus);
        }
      }),
      RUNS,
    );
  });

  it('backfill never delays the reserved head: at the reservation time the head still fits', () => {
    fc.assert(
      fc.property(worldArbitrary({ queuedMax: 16, scatter: true }), ({ snapshot: s }) => {
        const d = runSchedulingCycle(s);
        if (!d.reservation) return;
        const startMs = d.reservation.startAt.getTime();
        expect(startMs).toBeGreaterThanOrEqual(T0);
        const head = s.queued.find((w) => w.id === d.reservation!.workloadId)!;
        const free = applyDecision(s, d);
        const preempted = new Set(d.preempted.map((p) => p.workloadId));
        const release = (placement: PlacementPart[]): void => {
          for (const p of placement) free.set(p.nodeId, free.get(p.nodeId)! + p.gpus);
        };
        for (const w of s.running) {
          if (!preempted.has(w.id) && Math.max(w.expectedEndAt.getTime(), T0) <= startMs)
            release(w.placement);
        }
        const walltime = new Map(s.queued.map((w) => [w.id, w.walltimeSeconds]));
        for (const a of d.admitted) {
          if (T0 + walltime.get(a.workloadId)! * 1000 <= startMs) release(a.placement);
        }
        const later = createCapacityIndex(
          s.nodes.map((n) => ({ ...n, gpusFree: free.get(n.id)! })),
          s.gpusPerNode,
        );
        expect(later.fits(head.gpus)).toBe(true);
        // And the head starts no later than it would have without any backfill.
        const plain = runSchedulingCycle({ ...s, settings: { ...s.settings, backfill: false } });
        expect(plain.reservation).toEqual(d.reservation);
      }),
      { numRuns: 300 },
    );
  });

  it('preemption frees exactly what the entitled workload needs, and only borrowed work of programs above entitlement', () => {
    fc.assert(
      fc.property(worldArbitrary({ queuedMax: 1, preemption: true, contest: true }), ({ snapshot: s }) => {
        const d = runSchedulingCycle(s);
        if (d.preempted.length === 0) return;
        const target = s.queued[0];
        expect(admittedIds(d)).toEqual([target.id]);
        const capacity = partitionCapacityGpus(s.nodes);
        const entitled = (p: string): number => entitledGpus(capacity, s.entitlementsBasisPoints.get(p) ?? 0);
        const runningOf = (p: string): number =>
          s.running.filter((w) => w.programId === p).reduce((t, w) => t + w.gpus, 0);
        const victims = s.running.filter((w) => d.preempted.some((p) => p.workloadId === w.id));
        expect(runningOf(target.programId)).toBeLessThan(entitled(target.programId));
        const freed = victims.reduce((t, w) => t + w.gpus, 0);
        expect(freed).toBeLessThanOrEqual(entitled(target.programId) - runningOf(target.programId));
        for (const v of victims) {
          expect(v.borrowed).toBe(true);
          expect(v.programId).not.toBe(target.programId);
          expect(d.preempted.find((p) => p.workloadId === v.id)!.forProgramId).toBe(target.programId);
        }
        for (const program of new Set(victims.map((v) => v.programId))) {
          const lost = victims.filter((v) => v.programId === program).reduce((t, w) => t + w.gpus, 0);
          expect(runningOf(program) - lost).toBeGreaterThanOrEqual(entitled(program));
        }
        // Minimal: keeping any one victim running makes the entitled workload not fit.
        for (const keep of victims) {
          const free = new Map(s.nodes.map((n) => [n.id, n.gpusFree]));
          for (const v of victims) {
            if (v === keep) continue;
            for (const p of v.placement) free.set(p.nodeId, free.get(p.nodeId)! + p.gpus);
          }
          const index = createCapacityIndex(
            s.nodes.map((n) => ({ ...n, gpusFree: free.get(n.id)! })),
            s.gpusPerNode,
          );
          expect(index.fits(target.gpus)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reportWaiting false decides admissions, preemptions and the reservation exactly as the full walk', () => {
    fc.assert(
      fc.property(worldArbitrary(), ({ snapshot: s }) => {
        const full = runSchedulingCycle(s);
        const lean = runSchedulingCycle({ ...s, settings: { ...s.settings, reportWaiting: false } });
        expect(lean.waiting).toEqual([]);
        expect(lean.admitted).toEqual(full.admitted);
        expect(lean.preempted).toEqual(full.preempted);
        expect(lean.reservation).toEqual(full.reservation);
      }),
      { numRuns: 200 },
    );
  });

  it('is deterministic: same snapshot, in any input order, gives the same decision', () => {
    fc.assert(
      fc.property(worldArbitrary(), ({ snapshot: s }) => {
        const d = runSchedulingCycle(s);
        expect(runSchedulingCycle(s)).toEqual(d);
        const shuffled: PartitionSnapshot = {
          ...s,
          nodes: [...s.nodes].reverse(),
          queued: [...s.queued].reverse(),
          running: [...s.running].reverse(),
        };
        expect(runSchedulingCycle(shuffled)).toEqual(d);
      }),
      { numRuns: 100 },
    );
  });
});
