import { nodesForLoad, offeredLoad, tileForPool } from './sizing.js';
import type { TraceJob } from './types.js';

const job = (
  id: string,
  submitAt: number,
  gpus: number,
  durationSeconds: number,
  tenant = 't',
): TraceJob => ({
  id,
  tenant,
  submitAt,
  gpus,
  durationSeconds,
});

describe('nodesForLoad', () => {
  // Σ gpus × duration = 8 × 100 + 1 × 800 = 1600 GPU-s; span = 1000 s.
  const jobs = [job('a', 0, 8, 100), job('b', 1000, 1, 800)];

  it('is ceil(Σ gpus × duration ÷ (load × span × gpusPerNode))', () => {
    expect(nodesForLoad(jobs, 0.1, 8)).toBe(2); // 1600 / (0.1 × 1000 × 8) = 2
    expect(nodesForLoad(jobs, 0.08, 8)).toBe(3); // 1600 / 640 = 2.5 → 3
    expect(nodesForLoad(jobs, 0.05, 4)).toBe(8); // 1600 / 200 = 8
    expect(offeredLoad(jobs, 16)).toBeCloseTo(0.1);
  });

  it('gives at least enough nodes for the largest job', () => {
    expect(nodesForLoad(jobs, 0.5, 8)).toBe(1); // 0.4 → 1
    expect(nodesForLoad([...jobs, job('c', 500, 32, 1)], 1.2, 8)).toBe(4); // 32 GPUs = 4 nodes
  });
});

describe('tileForPool', () => {
  it('adds time-shifted copies as separate tenants, wrapped inside the span', () => {
    const jobs = [job('a', 0, 8, 100, 'x'), job('b', 1000, 1, 800, 'y')];
    const tiled = tileForPool(jobs, 50_000, 2);
    // copy 1 is shifted by 1000 × 1 / 2 = 500: a → 500, b → (1000 + 500) mod 1000 = 500.
    expect(tiled.map((j) => [j.id, j.tenant, j.submitAt])).toEqual([
      ['a#0', 'x#0', 0],
      ['a#1', 'x#1', 500],
      ['b#1', 'y#1', 500],
      ['b#0', 'y#0', 1000],
    ]);
  });

  it('defaults to as many copies as the pool holds average trace demands', () => {
    // average demand = 1600 / 1000 = 1.6 GPUs → 16 GPUs hold 10 copies.
    const jobs = [job('a', 0, 8, 100), job('b', 1000, 1, 800)];
    expect(tileForPool(jobs, 16)).toHaveLength(20);
  });
});
