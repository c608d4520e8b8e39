import type { CapacityIndex } from './placement.js';
import type { PlacementPart } from './types.js';

/** GPUs that free at `endMs`: a running workload (or one projected to run) and its allocation. */
export interface ProjectedOccupant {
  endMs: number;
  placement: readonly PlacementPart[];
  allocationId: string;
  gpus: number;
}

/** A queued workload whose start is projected, in scheduling order. */
export interface ProjectedWaiter {
  gpus: number;
  walltimeSeconds: number;
  allocationId: string;
  /** It may not start before this (the head's reservation time). */
  notBeforeMs?: number;
}

/** An allocation's concurrency cap and the GPUs its running workloads hold now. */
export interface ProjectedAllocation {
  gpusInUse: number;
  maxConcurrentGpus: number;
}

export interface StartProjectionInput {
  nowMs: number;
  /** Free GPUs now (after this cycle's admissions); not modified. */
  capacity: CapacityIndex;
  /** What runs now (snapshot running minus preempted, plus this cycle's admissions); ends ≥ now. */
  occupants: readonly ProjectedOccupant[];
  waiters: readonly ProjectedWaiter[];
  /** Caps of the waiters' allocations; an allocation not listed has no cap. */
  allocations: ReadonlyMap<string, ProjectedAllocation>;
}

const MS_PER_SECOND = 1000;

/**
 * When each waiter is expected to start, as `squeue --start` estimates it: running workloads release
 * their GPUs (and their allocation's concurrency) at their expected end (start + walltime); at each
 * release the waiters are walked in scheduling order and each one that fits — GPUs placed as the
 * cycle places them (gang on whole nodes of one domain, best fit), and within its allocation's cap —
 * is projected to start then and to end a walltime later, releasing in turn. A waiter held only by its
 * allocation's cap blocks no one; the first waiter that does not fit the GPUs blocks those behind it
 * (no backfill: estimates are conservative). Null where no projected release ever lets it start: the
 * released GPUs never fit it, or its cap never frees (the GPUs it is over by are held by work this
 * partition does not see).
 *
 * Pure; cost O((occupants + waiters) × log + releases × waiters held by a cap), with one placement
 * search per waiter and per release while one blocks: the cycle calls it for its first
 * `estimateLimit` waiters only.
 */
export function projectStarts(input: StartProjectionInput): (number | null)[] {
  const { waiters } = input;
  const starts: (number | null)[] = waiters.map(() => null);
  if (waiters.length === 0) return starts;
  const capacity = input.capacity.clone();
  const inUse = new Map<string, number>();
  for (const [id, allocation] of input.allocations) inUse.set(id, allocation.gpusInUse);
  const ends = new ReleaseHeap();
  for (const occupant of input.occupants) ends.push(Math.max(occupant.endMs, input.nowMs), occupant);

  /** Waiters not yet projected, in order (indices into `waiters`). */
  let pending = waiters.map((_, i) => i).filter((i) => mayEverStart(waiters[i], input.allocations));
  let t = input.nowMs;
  for (;;) {
    while (ends.size > 0 && ends.peekEnd() <= t) {
      const released = ends.pop();
      capacity.release(released.placement);
      const used = inUse.get(released.allocationId);
      if (used !== undefined) inUse.set(released.allocationId, Math.max(0, used - released.gpus));
    }
    let blockedUntil = Number.POSITIVE_INFINITY;
    const still: number[] = [];
    for (let k = 0; k < pending.length; k += 1) {
      const i = pending[k];
      const w = waiters[i];
      const cap = input.allocations.get(w.allocationId);
      if (cap && (inUse.get(w.allocationId) ?? 0) + w.gpus > cap.maxConcurrentGpus) {
        still.push(i);
        continue;
      }
      const notBefore = w.notBeforeMs ?? t;
      const placement = notBefore <= t ? capacity.find(w.gpus) : null;
      if (!placement) {
        // In order: nothing behind it starts before it does.
        if (notBefore > t) blockedUntil = notBefore;
        for (; k < pending.length; k += 1) still.push(pending[k]);
        break;
      }
      capacity.take(placement);
      if (cap) inUse.set(w.allocationId, (inUse.get(w.allocationId) ?? 0) + w.gpus);
      ends.push(t + w.walltimeSeconds * MS_PER_SECOND, {
        endMs: t + w.walltimeSeconds * MS_PER_SECOND,
        placement,
        allocationId: w.allocationId,
        gpus: w.gpus,
      });
      starts[i] = t;
    }
    pending = still;
    if (pending.length === 0) break;
    const next = Math.min(ends.size > 0 ? ends.peekEnd() : Number.POSITIVE_INFINITY, blockedUntil);
    if (next === Number.POSITIVE_INFINITY) break;
    t = Math.max(t, next);
  }
  return starts;
}

function mayEverStart(w: ProjectedWaiter, allocations: ReadonlyMap<string, ProjectedAllocation>): boolean {
  const cap = allocations.get(w.allocationId);
  return Number.isSafeInteger(w.walltimeSeconds) && (!cap || w.gpus <= cap.maxConcurrentGpus);
}

/** Min-heap of releases by end time. */
class ReleaseHeap {
  private readonly ends: number[] = [];
  private readonly items: ProjectedOccupant[] = [];

  get size(): number {
    return this.ends.length;
  }

  peekEnd(): number {
    return this.ends[0];
  }

  push(end: number, item: ProjectedOccupant): void {
    const ends = this.ends;
    const items = this.items;
    let i = ends.length;
    ends.push(end);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ends[parent] <= end) break;
      ends[i] = ends[parent];
      items[i] = items[parent];
      i = parent;
    }
    ends[i] = end;
    items[i] = item;
  }

  pop(): ProjectedOccupant {
    const ends = this.ends;
    const items = this.items;
    const top = items[0];
    const lastEnd = ends.pop()!;
    const lastItem = items.pop()!;
    const n = ends.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && ends[r] < ends[l] ? r : l;
      if (ends[c] >= lastEnd) break;
      ends[i] = ends[c];
      items[i] = items[c];
      i = c;
    }
    ends[i] = lastEnd;
    items[i] = lastItem;
    return top;
  }
}
