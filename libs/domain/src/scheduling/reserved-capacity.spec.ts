import fc from 'fast-check';
import { runSchedulingCycle } from './cycle.js';
import type {
  AllocationQuota,
  CycleDecision,
  NodeReservation,
  PartitionSnapshot,
  PoolNode,
  QueuedWorkload,
  RunningWorkload,
} from './types.js';

const T0 = Date.UTC(2026, 5, 1, 0, 0, 0);
const HOUR = 3_600_000;

function node(i: number, gpusFree = 8): PoolNode {
  return { id: `n${i}`, domain: `d${Math.floor(i / 4)}`, gpusTotal: 8, gpusFree, state: 'up' };
}

function quota(allocationId: string): AllocationQuota {
  return {
    allocationId,
    remainingGpuSeconds: 10n ** 12n,
    maxConcurrentGpus: 10_000,
    gpusInUse: 0,
    admitting: true,
  };
}

function queued(
  id: string,
  allocationId: string,
  gpus: number,
  walltimeHours: number,
  ageMs = 1000,
): QueuedWorkload {
  return {
    id,
    allocationId,
    projectId: `p-${allocationId}`,
    programId: 'P',
    gpus,
    walltimeSeconds: walltimeHours * 3600,
    priorityTier: 0,
    queuedAt: new Date(T0 - ageMs),
  };
}

function reservation(
  nodeId: string,
  allocationId: string,
  fromHours: number,
  toHours: number,
): NodeReservation {
  return {
    nodeId,
    allocationId,
    startsAt: new Date(T0 + fromHours * HOUR),
    endsAt: new Date(T0 + toHours * HOUR),
  };
}

function snapshot(over: Partial<PartitionSnapshot>): PartitionSnapshot {
  return {
    gpuModel: 'H200',
    gpusPerNode: 8,
    now: new Date(T0),
    nodes: [],
    queued: [],
    running: [],
    allocations: new Map(['shared-a', 'shared-b', 'R1', 'R2'].map((id) => [id, quota(id)])),
    entitlementsBasisPoints: new Map([['P', 10_000]]),
    projectUsage: new Map(),
    projectShares: new Map(),
    settings: { fairShareHalfLifeSeconds: 86_400, backfill: true, preemption: true, estimateLimit: 5 },
    ...over,
  };
}

const placedOn = (decision: CycleDecision, id: string): string[] =>
  decision.admitted.find((a) => a.workloadId === id)?.placement.map((p) => p.nodeId) ?? [];

describe('runSchedulingCycle with reserved servers', () => {
  it('runs an owner only on its reserved nodes and keeps shared work off nodes reserved now', () => {
    const s = snapshot({
      nodes: [node(0), node(1), node(2)],
      nodeReservations: [reservation('n0', 'R1', -1, 24 * 30), reservation('n1', 'R1', -1, 24 * 30)],
      queued: [
        queued('owner', 'R1', 16, 10),
        queued('shared-long', 'shared-a', 8, 24 * 60, 5000),
        queued('shared-2', 'shared-b', 8, 24 * 60),
      ],
    });
    const d = runSchedulingCycle(s);
    expect(placedOn(d, 'owner').sort()).toEqual(['n0', 'n1']);
    expect(placedOn(d, 'shared-long')).toEqual(['n2']);
    // n0 and n1 are the owner's; shared-2 has no shared node left and its walltime outlasts the
    // owner's window, so it is not lent either.
    expect(placedOn(d, 'shared-2')).toEqual([]);
    expect(d.waiting.map((w) => w.workloadId)).toEqual(['shared-2']);
  });

  it('lends an idle reserved server to work that ends before the window ends, preemptibly', () => {
    const s = snapshot({
      nodes: [node(0)],
      nodeReservations: [reservation('n0', 'R1', -1, 48)],
      queued: [queued('too-long', 'shared-a', 8, 72, 5000), queued('fits', 'shared-b', 8, 24)],
    });
    const d = runSchedulingCycle(s);
    expect(d.admitted).toEqual([expect.objectContaining({ workloadId: 'fits', borrowed: true })]);
    expect(d.waiting.map((w) => w.workloadId)).toEqual(['too-long']);
  });

  it('reclaims a lent server the moment its owner submits', () => {
    const lent: RunningWorkload = {
      id: 'lent',
      allocationId: 'shared-a',
      projectId: 'p-shared-a',
      programId: 'P',
      gpus: 8,
      placement: [{ nodeId: 'n0', gpus: 8 }],
      admittedAt: new Date(T0 - HOUR),
      expectedEndAt: new Date(T0 + 5 * HOUR),
      borrowed: true,
    };
    const s = snapshot({
      nodes: [node(0, 0)],
      running: [lent],
      nodeReservations: [reservation('n0', 'R1', -2, 48)],
      queued: [queued('owner', 'R1', 8, 10)],
    });
    const d = runSchedulingCycle(s);
    expect(d.preempted).toEqual([{ workloadId: 'lent', forProgramId: 'P', reclaimedForAllocationId: 'R1' }]);
    expect(placedOn(d, 'owner')).toEqual(['n0']);
  });

  it('reclaims from work admitted before the reservation was planned, not only from lent work', () => {
    const before: RunningWorkload = {
      id: 'before',
      allocationId: 'shared-a',
      projectId: 'p-shared-a',
      programId: 'P',
      gpus: 8,
      placement: [{ nodeId: 'n0', gpus: 8 }],
      admittedAt: new Date(T0 - 10 * HOUR),
      expectedEndAt: new Date(T0 + 5 * 24 * HOUR),
      borrowed: false,
    };
    const s = snapshot({
      nodes: [node(0, 0)],
      running: [before],
      nodeReservations: [reservation('n0', 'R1', -1, 48)],
      queued: [queued('owner', 'R1', 8, 10)],
    });
    const d = runSchedulingCycle(s);
    expect(d.preempted.map((p) => p.workloadId)).toEqual(['before']);
    expect(placedOn(d, 'owner')).toEqual(['n0']);
  });

  it('lends a node whose reservation starts soon only to work that ends before it starts', () => {
    const s = snapshot({
      nodes: [node(0)],
      nodeReservations: [reservation('n0', 'R1', 10, 100)],
      queued: [queued('long', 'shared-a', 8, 20, 5000), queued('short', 'shared-b', 8, 5)],
    });
    const d = runSchedulingCycle(s);
    expect(d.admitted.map((a) => a.workloadId)).toEqual(['short']);
    expect(d.admitted[0].borrowed).toBe(true);
  });

  it('holds an owner whose reservation has not started, saying why', () => {
    const s = snapshot({
      nodes: [node(0), node(1)],
      nodeReservations: [reservation('n0', 'R1', 10, 100)],
      queued: [queued('early', 'R1', 8, 1)],
    });
    const d = runSchedulingCycle(s);
    expect(d.admitted).toEqual([]);
    expect(d.waiting).toEqual([
      expect.objectContaining({
        workloadId: 'early',
        reason: 'capacity',
        detail: expect.stringMatching(/reserved servers/),
      }),
    ]);
  });

  it('is the plain cycle when no reservation is given', () => {
    const s = snapshot({
      nodes: [node(0), node(1)],
      queued: [queued('a', 'shared-a', 8, 1), queued('b', 'shared-b', 16, 1)],
    });
    expect(runSchedulingCycle({ ...s, nodeReservations: [] })).toEqual(runSchedulingCycle(s));
  });

  it('never double-books: owners on their nodes, lent work ends before the next reservation or window end', () => {
    const arbitrary = fc.record({
      nodes: fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 2, maxLength: 10 }),
      reservations: fc.array(
        fc.record({
          node: fc.nat(9),
          owner: fc.constantFrom('R1', 'R2'),
          from: fc.integer({ min: -48, max: 72 }),
          length: fc.integer({ min: 1, max: 200 }),
        }),
        { maxLength: 8 },
      ),
      queue: fc.array(
        fc.record({
          allocation: fc.constantFrom('shared-a', 'shared-b', 'R1', 'R2'),
          gpus: fc.constantFrom(1, 2, 4, 8, 16),
          hours: fc.integer({ min: 1, max: 120 }),
        }),
        { maxLength: 25 },
      ),
      backfill: fc.boolean(),
    });
    fc.assert(
      fc.property(arbitrary, ({ nodes: free, reservations: raw, queue, backfill }) => {
        const nodes = free.map((f, i) => node(i, f));
        // Non-overlapping per node, as the planner guarantees: keep the first of any overlap.
        const kept: NodeReservation[] = [];
        for (const r of raw) {
          if (r.node >= nodes.length) continue;
          const candidate = reservation(`n${r.node}`, r.owner, r.from, r.from + r.length);
          const clash = kept.some(
            (k) =>
              k.nodeId === candidate.nodeId && k.startsAt < candidate.endsAt && candidate.startsAt < k.endsAt,
          );
          if (!clash) kept.push(candidate);
        }
        const s = snapshot({
          nodes,
          nodeReservations: kept,
          queued: queue.map((q, i) =>
            queued(`w${i}`, q.allocation, q.gpus, q.hours, 1000 * (queue.length - i)),
          ),
          settings: { fairShareHalfLifeSeconds: 86_400, backfill, preemption: true, estimateLimit: 5 },
        });
        const d = runSchedulingCycle(s);
        const byId = new Map(s.queued.map((w) => [w.id, w]));
        const used = new Map<string, number>();
        const seen = new Set<string>();
        for (const a of d.admitted) {
          expect(seen.has(a.workloadId)).toBe(false);
          seen.add(a.workloadId);
          const w = byId.get(a.workloadId)!;
          const endMs = T0 + w.walltimeSeconds * 1000;
          for (const part of a.placement) {
            used.set(part.nodeId, (used.get(part.nodeId) ?? 0) + part.gpus);
            const onNode = kept.filter((r) => r.nodeId === part.nodeId);
            const now = onNode.find((r) => r.startsAt.getTime() <= T0 && r.endsAt.getTime() > T0);
            if (kept.some((r) => r.allocationId === w.allocationId)) {
              expect(now?.allocationId).toBe(w.allocationId);
              continue;
            }
            if (now) {
              expect(a.borrowed).toBe(true);
              expect(endMs).toBeLessThanOrEqual(now.endsAt.getTime());
            }
            for (const r of onNode)
              if (r.startsAt.getTime() > T0) expect(endMs).toBeLessThanOrEqual(r.startsAt.getTime());
          }
        }
        for (const n of nodes) expect(used.get(n.id) ?? 0).toBeLessThanOrEqual(n.gpusFree);
        // Every queued workload not admitted is listed as waiting exactly once.
        const listed = d.waiting.map((w) => w.workloadId);
        expect(new Set(listed).size).toBe(listed.length);
        expect([...listed, ...seen].sort()).toEqual(s.queued.map((w) => w.id).sort());
      }),
      { numRuns: 300 },
    );
  });
});
