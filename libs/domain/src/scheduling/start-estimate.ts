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
 * is projected to start then and to end a walltime later, releasing in turn. A waiter held by its
 * allocation's cap blocks no one (its allocation's later waiters wait behind it); the first waiter
 * that does not fit the GPUs blocks everyone behind it (no backfill: estimates are conservative).
 * Null where no projected release ever lets it start: the released GPUs never fit it, or its cap
 * never frees (the GPUs it is over by are held by work this partition does not see).
 *
 * Pure. Each waiter is looked at once when the walk reaches it and once when its cap frees, and a
 * blocked walk costs one placement search per release: O((occupants + waiters) × log n) plus the
 * searches. The cycle calls it for its first `estimateLimit` waiters only.
 */
export function projectStarts(input: StartProjectionInput): (number | null)[] {
  const { waiters, allocations } = input;
  const starts: (number | null)[] = waiters.map(() => null);
  if (waiters.length === 0) return starts;
  const capacity = input.capacity.clone();
  const inUse = new Map<string, number>();
  for (const [id, allocation] of allocations) inUse.set(id, allocation.gpusInUse);
  const ends = new ReleaseHeap();
  for (const occupant of input.occupants) ends.push(Math.max(occupant.endMs, input.nowMs), occupant);
  /** Per capped allocation, its waiters the walk reached that wait for the cap, in order. */
  const parked = new Map<string, { items: number[]; head: number }>();
  /** Waiters free to start (their cap allows), by position; the least one is tried first. */
  const ready = new MinHeap();
  /** Ready waiters not placed yet, per allocation: another is unparked only once they are (cap). */
  const readyOf = new Map<string, number>();
  const makeReady = (i: number): void => {
    ready.push(i);
    const id = waiters[i].allocationId;
    readyOf.set(id, (readyOf.get(id) ?? 0) + 1);
  };
  const takeReady = (): number => {
    const i = ready.pop();
    const id = waiters[i].allocationId;
    readyOf.set(id, (readyOf.get(id) ?? 1) - 1);
    return i;
  };
  let frontier = 0;

  const capAllows = (i: number): boolean => {
    const w = waiters[i];
    const cap = allocations.get(w.allocationId);
    return !cap || (inUse.get(w.allocationId) ?? 0) + w.gpus <= cap.maxConcurrentGpus;
  };
  /** The next parked waiter of `allocationId` becomes ready if its cap now allows it. */
  const unpark = (allocationId: string): void => {
    const queue = parked.get(allocationId);
    if (!queue || queue.head >= queue.items.length || (readyOf.get(allocationId) ?? 0) > 0) return;
    const next = queue.items[queue.head];
    if (!capAllows(next)) return;
    queue.head += 1;
    makeReady(next);
  };

  let t = input.nowMs;
  for (;;) {
    const releasedAllocations = new Set<string>();
    while (ends.size > 0 && ends.peekEnd() <= t) {
      const released = ends.pop();
      capacity.release(released.placement);
      const used = inUse.get(released.allocationId);
      if (used !== undefined) {
        inUse.set(released.allocationId, Math.max(0, used - released.gpus));
        releasedAllocations.add(released.allocationId);
      }
    }
    for (const allocationId of releasedAllocations) unpark(allocationId);

    let blockedUntil = Number.POSITIVE_INFINITY;
    let blocked = false;
    while (!blocked) {
      const fromReady = ready.size > 0 && ready.peek() < frontier;
      let i: number;
      if (fromReady) {
        i = takeReady();
      } else if (frontier < waiters.length) {
        i = frontier;
        frontier += 1;
        if (!mayEverStart(waiters[i], allocations)) continue;
        const queue = parked.get(waiters[i].allocationId);
        // Behind its allocation's parked waiters, or over its cap now: it waits for the cap.
        if ((queue && queue.head < queue.items.length) || !capAllows(i)) {
          if (queue) queue.items.push(i);
          else parked.set(waiters[i].allocationId, { items: [i], head: 0 });
          continue;
        }
      } else if (ready.size > 0) {
        i = takeReady();
      } else {
        break;
      }
      const w = waiters[i];
      const notBefore = w.notBeforeMs ?? t;
      const placement = notBefore <= t ? capacity.find(w.gpus) : null;
      if (!placement) {
        // In order: nothing behind it starts before it does. It is tried first at the next release.
        if (notBefore > t) blockedUntil = notBefore;
        makeReady(i);
        blocked = true;
        break;
      }
      capacity.take(placement);
      const endMs = t + w.walltimeSeconds * MS_PER_SECOND;
      ends.push(endMs, { endMs, placement, allocationId: w.allocationId, gpus: w.gpus });
      starts[i] = t;
      if (allocations.has(w.allocationId)) {
        inUse.set(w.allocationId, (inUse.get(w.allocationId) ?? 0) + w.gpus);
        unpark(w.allocationId);
      }
    }
    if (!blocked && frontier >= waiters.length && ready.size === 0 && !anyParked(parked)) break;
    const next = Math.min(ends.size > 0 ? ends.peekEnd() : Number.POSITIVE_INFINITY, blockedUntil);
    if (next === Number.POSITIVE_INFINITY) break;
    t = Math.max(t, next);
  }
  return starts;
}

function anyParked(parked: ReadonlyMap<string, { items: number[]; head: number }>): boolean {
  for (const queue of parked.values()) if (queue.head < queue.items.length) return true;
  return false;
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

/** Min-heap of waiter positions. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    return this.items[0];
  }

  push(value: number): void {
    const items = this.items;
    let i = items.length;
    items.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent] <= value) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    const n = items.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && items[r] < items[l] ? r : l;
      if (items[c] >= last) break;
      items[i] = items[c];
      i = c;
    }
    items[i] = last;
    return top;
  }
}
