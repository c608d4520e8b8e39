import fc from 'fast-check';
import { createCapacityIndex, maxPlaceableGpus, placeWorkload, validateGang } from './placement.js';
import type { NodeState, PoolNode } from './types.js';

const node = (
  id: string,
  domain: string,
  gpusFree: number,
  state: NodeState = 'up',
  gpusTotal = 8,
): PoolNode => ({
  id,
  domain,
  gpusTotal,
  gpusFree,
  state,
});

describe('placeWorkload — single node (best fit)', () => {
  it('chooses the up node with the fewest free GPUs that still fit, keeping whole nodes free', () => {
    const index = createCapacityIndex(
      [node('a', 'd1', 8), node('b', 'd1', 3), node('c', 'd1', 2), node('d', 'd1', 3, 'draining')],
      8,
    );
    expect(placeWorkload(index, 3, 8)).toEqual([{ nodeId: 'b', gpus: 3 }]);
    expect(index.freeOf('b')).toBe(0);
    expect(placeWorkload(index, 2, 8)).toEqual([{ nodeId: 'c', gpus: 2 }]);
    expect(placeWorkload(index, 2, 8)).toEqual([{ nodeId: 'a', gpus: 2 }]);
    expect(placeWorkload(index, 7, 8)).toBeNull();
    expect(index.freeOf('d')).toBe(3);
  });

  it('breaks ties by node id', () => {
    const index = createCapacityIndex([node('n2', 'd', 4), node('n10', 'd', 4), node('n1', 'd', 4)], 8);
    expect(placeWorkload(index, 4, 8)).toEqual([{ nodeId: 'n1', gpus: 4 }]);
    expect(placeWorkload(index, 4, 8)).toEqual([{ nodeId: 'n10', gpus: 4 }]);
  });
});

describe('placeWorkload — gangs', () => {
  it('takes wholly free nodes in the domain with the fewest that still suffice', () => {
    const index = createCapacityIndex(
      [
        node('a1', 'A', 8),
        node('a2', 'A', 8),
        node('a3', 'A', 8),
        node('b1', 'B', 8),
        node('b2', 'B', 8),
        node('b3', 'B', 7),
        node('c1', 'C', 8),
        node('c2', 'C', 8, 'down'),
      ],
      8,
    );
    expect(placeWorkload(index, 16, 8)).toEqual([
      { nodeId: 'b1', gpus: 8 },
      { nodeId: 'b2', gpus: 8 },
    ]);
    expect(placeWorkload(index, 32, 8)).toBeNull();
    expect(placeWorkload(index, 24, 8)).toHaveLength(3);
    expect(placeWorkload(index, 16, 8)).toBeNull();
    expect(index.freeGpus).toBe(7 + 8);
  });

  it('refuses sizes that are not whole nodes', () => {
    const index = createCapacityIndex([node('a', 'A', 8), node('b', 'A', 8)], 8);
    expect(placeWorkload(index, 12, 8)).toBeNull();
    expect(index.freeGpus).toBe(16);
  });
});

describe('validateGang and maxPlaceableGpus', () => {
  it.each([
    [1, null],
    [8, null],
    [16, null],
    [0, 'positive'],
    [1.5, 'positive'],
    [12, 'multiple of 8 (e.g. 8 or 16)'],
  ])('validateGang(%p, 8)', (gpus, expected) => {
    const reason = validateGang(gpus, 8);
    if (expected === null) expect(reason).toBeNull();
    else expect(reason).toContain(expected);
  });

  it('is the largest domain times GPUs per node, whatever the nodes’ states', () => {
    const nodes = [
      node('a', 'A', 0),
      node('b', 'A', 8, 'down'),
      node('c', 'B', 8),
      node('d', 'A', 8, 'draining'),
    ];
    expect(maxPlaceableGpus(nodes, 8)).toBe(24);
    expect(maxPlaceableGpus([node('x', 'X', 4, 'up', 4)], 8)).toBe(4);
    expect(maxPlaceableGpus([], 8)).toBe(0);
  });
});

const poolArbitrary = fc
  .record({
    gpusPerNode: fc.constantFrom(4, 8),
    domains: fc.array(
      fc.array(
        fc.record({
          used: fc.nat(8),
          state: fc.constantFrom<NodeState>('up', 'up', 'up', 'draining', 'down'),
        }),
        {
          minLength: 1,
          maxLength: 5,
        },
      ),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ gpusPerNode, domains }) => ({
    gpusPerNode,
    nodes: domains.flatMap((members, d) =>
      members.map((m, i): PoolNode => ({
        id: `n${d}-${i}`,
        domain: `d${d}`,
        gpusTotal: gpusPerNode,
        gpusFree: gpusPerNode - Math.min(m.used, gpusPerNode),
        state: m.state,
      })),
    ),
  }));

describe('placement properties', () => {
  it('never puts more GPUs on a node than it has free; gangs are whole nodes in one domain, all or nothing', () => {
    fc.assert(
      fc.property(
        poolArbitrary,
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }),
        (pool, sizes) => {
          const index = createCapacityIndex(pool.nodes, pool.gpusPerNode);
          const free = new Map(pool.nodes.map((n) => [n.id, n.gpusFree]));
          const byId = new Map(pool.nodes.map((n) => [n.id, n]));
          for (const gpus of sizes) {
            const before = index.freeGpus;
            const parts = placeWorkload(index, gpus, pool.gpusPerNode);
            if (!parts) {
              expect(index.freeGpus).toBe(before);
              continue;
            }
            expect(parts.reduce((s, p) => s + p.gpus, 0)).toBe(gpus);
            if (gpus <= pool.gpusPerNode) {
              expect(parts).toHaveLength(1);
            } else {
              expect(gpus % pool.gpusPerNode).toBe(0);
              expect(parts).toHaveLength(gpus / pool.gpusPerNode);
              expect(new Set(parts.map((p) => p.nodeId)).size).toBe(parts.length);
              expect(new Set(parts.map((p) => byId.get(p.nodeId)!.domain)).size).toBe(1);
              for (const p of parts) expect(free.get(p.nodeId)).toBe(byId.get(p.nodeId)!.gpusTotal);
            }
            for (const p of parts) {
              expect(byId.get(p.nodeId)!.state).toBe('up');
              expect(p.gpus).toBeLessThanOrEqual(free.get(p.nodeId)!);
              free.set(p.nodeId, free.get(p.nodeId)! - p.gpus);
            }
          }
          for (const n of pool.nodes) expect(index.freeOf(n.id)).toBe(free.get(n.id));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('best fit chooses the tightest up node (then the smallest id), and gangs the tightest sufficient domain', () => {
    fc.assert(
      fc.property(poolArbitrary, fc.integer({ min: 1, max: 32 }), (pool, gpus) => {
        const index = createCapacityIndex(pool.nodes, pool.gpusPerNode);
        const parts = placeWorkload(index, gpus, pool.gpusPerNode);
        const up = pool.nodes.filter((n) => n.state === 'up');
        if (gpus <= pool.gpusPerNode) {
          const fitting = up
            .filter((n) => n.gpusFree >= gpus)
            .sort((a, b) => a.gpusFree - b.gpusFree || (a.id < b.id ? -1 : 1));
          expect(parts).toEqual(fitting.length ? [{ nodeId: fitting[0].id, gpus }] : null);
          return;
        }
        const needed = gpus / pool.gpusPerNode;
        const wholeByDomain = new Map<string, string[]>();
        for (const n of up.filter((x) => x.gpusFree === x.gpusTotal)) {
          wholeByDomain.set(n.domain, [...(wholeByDomain.get(n.domain) ?? []), n.id]);
        }
        const candidates = [...wholeByDomain.entries()]
          .filter(([, ids]) => Number.isInteger(needed) && ids.length >= needed)
          .sort((a, b) => a[1].length - b[1].length || (a[0] < b[0] ? -1 : 1));
        if (!candidates.length) return expect(parts).toBeNull();
        const ids = candidates[0][1].sort().slice(0, needed);
        expect(parts).toEqual(ids.map((nodeId) => ({ nodeId, gpus: pool.gpusPerNode })));
      }),
      { numRuns: 200 },
    );
  });

  it('release gives back exactly what take took', () => {
    fc.assert(
      fc.property(
        poolArbitrary,
        fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 10 }),
        (pool, sizes) => {
          const index = createCapacityIndex(pool.nodes, pool.gpusPerNode);
          const placed = sizes
            .map((g) => placeWorkload(index, g, pool.gpusPerNode))
            .filter((p) => p !== null);
          for (const p of placed.reverse()) index.release(p);
          for (const n of pool.nodes) expect(index.freeOf(n.id)).toBe(n.gpusFree);
          const fresh = createCapacityIndex(pool.nodes, pool.gpusPerNode);
          for (const g of [1, 2, 4, 8, 16, 24]) expect(index.find(g)).toEqual(fresh.find(g));
        },
      ),
      { numRuns: 100 },
    );
  });
});
