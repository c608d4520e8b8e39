import { CapacityIndex } from './placement.js';
import { projectStarts, type ProjectedOccupant, type StartProjectionInput } from './start-estimate.js';
import type { PoolNode } from './types.js';

const NOW = Date.UTC(2026, 2, 2, 9, 0, 0);
const HOUR = 3600;
const at = (hours: number): number => NOW + hours * HOUR * 1000;

function nodes(domains: Record<string, number>): PoolNode[] {
  return Object.entries(domains).flatMap(([domain, count]) =>
    Array.from({ length: count }, (_, i) => ({
      id: `${domain}-n${i}`,
      domain,
      gpusTotal: 8,
      gpusFree: 8,
      state: 'up' as const,
    })),
  );
}

/** Builds the input with the occupants' GPUs taken from the index, as the cycle hands it over. */
function input(
  pool: PoolNode[],
  occupants: ProjectedOccupant[],
  waiters: StartProjectionInput['waiters'],
  allocations: StartProjectionInput['allocations'] = new Map(),
): StartProjectionInput {
  const capacity = CapacityIndex.build(pool, 8);
  for (const o of occupants) capacity.take(o.placement);
  return { nowMs: NOW, capacity, occupants, waiters, allocations };
}

const running = (
  nodeId: string,
  gpus: number,
  endHours: number,
  allocationId = 'other',
): ProjectedOccupant => ({
  endMs: at(endHours),
  placement: [{ nodeId, gpus }],
  allocationId,
  gpus,
});

const waiter = (gpus: number, walltimeHours = 1, allocationId = 'alloc') => ({
  gpus,
  walltimeSeconds: walltimeHours * HOUR,
  allocationId,
});

describe('projectStarts', () => {
  it('starts a gang when enough whole nodes of one domain are released at their walltimes', () => {
    const starts = projectStarts(
      input(
        nodes({ A: 2, B: 2 }),
        [running('A-n0', 8, 3), running('A-n1', 8, 5), running('B-n0', 4, 2)],
        [waiter(16)],
      ),
    );
    // B-n0 frees at +2 h: B-n0 and B-n1 are then one wholly free domain.
    expect(starts).toEqual([at(2)]);
  });

  it('starts queued work ahead first and releases it a walltime later (in order, no backfill)', () => {
    const starts = projectStarts(
      input(nodes({ A: 1 }), [running('A-n0', 8, 1)], [waiter(8, 2), waiter(8, 3), waiter(1)]),
    );
    expect(starts).toEqual([at(1), at(3), at(6)]);
  });

  it('a small waiter behind a blocked big one never starts before it', () => {
    const starts = projectStarts(
      input(
        nodes({ A: 2, B: 1 }),
        [running('A-n0', 8, 1), running('A-n1', 4, 4), running('B-n0', 4, 10)],
        [waiter(16), waiter(1)],
      ),
    );
    // B-n0 has 4 free GPUs now, but the 1-GPU waiter is behind the 16-GPU one, which starts at +4 h.
    expect(starts).toEqual([at(4), at(4)]);
  });

  it('a waiter held by its allocation’s concurrency cap starts when its own work ends, blocking no one', () => {
    const starts = projectStarts(
      input(
        nodes({ A: 3 }),
        [running('A-n0', 8, 2, 'capped')],
        [waiter(8, 1, 'capped'), waiter(8, 1, 'free'), waiter(8, 1, 'capped')],
        new Map([['capped', { gpusInUse: 8, maxConcurrentGpus: 8 }]]),
      ),
    );
    expect(starts).toEqual([at(2), NOW, at(3)]);
  });

  it('never projects an allocation over its cap, even when GPUs free up late', () => {
    // cap 8: `own` frees the cap at +1 h, but the pool is full until +2 h; the two capped waiters run one after the other.
    const starts = projectStarts(
      input(
        nodes({ A: 2 }),
        [running('A-n0', 8, 1, 'capped'), running('A-n1', 8, 2)],
        [waiter(8, 1, 'capped'), waiter(8, 1, 'capped')],
        new Map([['capped', { gpusInUse: 8, maxConcurrentGpus: 8 }]]),
      ),
    );
    expect(starts).toEqual([at(1), at(2)]);
  });

  it('is null when no release frees enough: a cap held by unseen work, or GPUs that never free', () => {
    const capped = projectStarts(
      input(
        nodes({ A: 1 }),
        [],
        [waiter(4, 1, 'capped'), waiter(16, 1, 'big'), waiter(8, 1, 'over-cap')],
        new Map([
          ['capped', { gpusInUse: 6, maxConcurrentGpus: 8 }],
          ['over-cap', { gpusInUse: 0, maxConcurrentGpus: 4 }],
        ]),
      ),
    );
    expect(capped).toEqual([null, null, null]);
  });

  it('does not start a waiter before its notBeforeMs (the head’s reservation)', () => {
    const starts = projectStarts(
      input(nodes({ A: 1 }), [], [{ ...waiter(8), notBeforeMs: at(2) }, waiter(1)]),
    );
    expect(starts).toEqual([at(2), at(3)]);
  });

  it('treats an overrun (end in the past) as ending now, and leaves the given index untouched', () => {
    const given = input(nodes({ A: 1 }), [running('A-n0', 8, -1)], [waiter(8)]);
    const freeBefore = given.capacity.freeGpus;
    expect(projectStarts(given)).toEqual([NOW]);
    expect(given.capacity.freeGpus).toBe(freeBefore);
  });

  it('stays cheap for a deep queue: 1,000 waiters behind 6,000 running workloads', () => {
    const pool = nodes({ A: 500, B: 500, C: 500, D: 500 });
    const occupants = pool.flatMap((node, n) =>
      [0, 1, 2].map((k) => running(node.id, k === 2 ? 2 : 3, 1 + ((n * 3 + k) % 97) / 10, `a${n % 50}`)),
    );
    const waiters = Array.from({ length: 1000 }, (_, i) =>
      waiter([1, 2, 4, 8, 16][i % 5], 1 + (i % 7), `a${i % 50}`),
    );
    const caps = new Map(
      Array.from({ length: 50 }, (_, i) => [`a${i}`, { gpusInUse: 320, maxConcurrentGpus: 400 }] as const),
    );
    const started = Date.now();
    const starts = projectStarts(input(pool, occupants, waiters, caps));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(starts.every((s) => s !== null && s >= NOW)).toBe(true);
    // In order among the waiters the cap does not hold: starts never go backwards.
    expect(starts.filter((s): s is number => s !== null).length).toBe(1000);
  });
});
