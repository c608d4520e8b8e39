import { compareStrings } from './placement.js';
import type { PartitionSnapshot, PoolNode, QueueLane, QueuedWorkload, RunningWorkload } from './types.js';

/**
 * Fair-share ordering of a partition's queue (DESIGN.md "The scheduler", step 1).
 *
 * Key, most significant first:
 * 1. program entitlement — a program whose running GPUs are below its entitled GPUs
 *    (floor(capacity × basisPoints / 10000)) comes before every program at or above it; among
 *    programs below, the lower running/entitled ratio first (compared by cross-multiplying
 *    integers). "Running" is PROJECTED along the order: each workload placed in the order adds its
 *    GPUs to its program (if its allocation is admitting), so a program short by 100 GPUs with
 *    50,000 queued workloads gets ~100 GPUs' worth of workloads at the front, not the whole queue;
 * 2. project fair share — decayed recent usage / share weight, lower first (a project without a
 *    positive share weight sorts after every project with one, then by usage);
 * 3. higher priorityTier first;
 * 4. older queuedAt first;
 * 5. workload id.
 * Program ties (same group and ratio, or both at/above) fall through to keys 2–5 of each program's
 * next workload, so the order is a deterministic k-way merge of per-program queues.
 *
 * Starvation guard (settings.starvationAfterSeconds): workloads queued at least that long come
 * before all of the above, oldest first (queuedAt, then id), and count towards their programs'
 * projected running GPUs for the rest of the order.
 */

/**
 * Usage decayed by elapsed time: usage × 2^(−age / halfLife). A non-positive half-life means no
 * memory (0 once any time has passed); a negative age (clock skew) counts as 0.
 */
export function decayUsage(usageGpuSeconds: number, ageSeconds: number, halfLifeSeconds: number): number {
  if (!Number.isFinite(usageGpuSeconds) || usageGpuSeconds <= 0) return 0;
  const age = Number.isFinite(ageSeconds) && ageSeconds > 0 ? ageSeconds : 0;
  if (age === 0) return usageGpuSeconds;
  if (!(halfLifeSeconds > 0)) return 0;
  return usageGpuSeconds * Math.pow(2, -age / halfLifeSeconds);
}

/** GPUs that count as the partition's capacity for entitlements: every node not `down`. */
export function partitionCapacityGpus(nodes: readonly PoolNode[]): number {
  let total = 0;
  for (const node of nodes) if (node.state !== 'down') total += Math.max(0, node.gpusTotal);
  return total;
}

/** floor(capacity × basisPoints / 10000), in integers. */
export function entitledGpus(capacityGpus: number, basisPoints: number): number {
  if (!(basisPoints > 0) || !(capacityGpus > 0)) return 0;
  const capacity = Math.trunc(capacityGpus);
  const bp = Math.trunc(basisPoints);
  // Doubles are exact here: the product is an exact integer below 2^44, so the quotient is below
  // 2^31 with a spacing far finer than the 1/10000 between a remainder of 9999 and the next integer;
  // BigInt beyond (no real pool gets there).
  if (capacity * bp < 2 ** 44) return Math.floor((capacity * bp) / 10000);
  return Number((BigInt(capacity) * BigInt(bp)) / 10000n);
}

export interface ProgramStanding {
  programId: string;
  entitledGpus: number;
  runningGpus: number;
}

/** Entitled and running GPUs per program (programs with an entitlement or running work). */
export function programStandings(
  snapshot: Pick<PartitionSnapshot, 'nodes' | 'running' | 'entitlementsBasisPoints'>,
): Map<string, ProgramStanding> {
  const capacity = partitionCapacityGpus(snapshot.nodes);
  const standings = new Map<string, ProgramStanding>();
  const standing = (programId: string): ProgramStanding => {
    let s = standings.get(programId);
    if (!s) {
      const bp = snapshot.entitlementsBasisPoints.get(programId) ?? 0;
      s = { programId, entitledGpus: entitledGpus(capacity, bp), runningGpus: 0 };
      standings.set(programId, s);
    }
    return s;
  };
  for (const programId of snapshot.entitlementsBasisPoints.keys()) standing(programId);
  for (const w of snapshot.running as readonly RunningWorkload[]) standing(w.programId).runningGpus += w.gpus;
  return standings;
}

/**
 * Compares two programs' entitlement standing: negative when `a` goes first. Below-entitlement
 * programs first, then the lower running/entitled ratio; 0 when the key does not separate them.
 */
export function compareEntitlement(
  aRunning: number,
  aEntitled: number,
  bRunning: number,
  bEntitled: number,
): number {
  const aBelow = aRunning < aEntitled;
  const bBelow = bRunning < bEntitled;
  if (aBelow !== bBelow) return aBelow ? -1 : 1;
  if (!aBelow) return 0;
  // aRunning/aEntitled vs bRunning/bEntitled, both entitlements > 0; exact in integers (< 2^53).
  const left = aRunning * bEntitled;
  const right = bRunning * aEntitled;
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * Project fair-share ranks: 0 = most deserving. Equal usage/share ratios share a rank so that the
 * next keys (tier, age, id) decide between their workloads.
 */
export function projectFairShareRanks(
  projectIds: Iterable<string>,
  usage: ReadonlyMap<string, number>,
  shares: ReadonlyMap<string, number>,
): Map<string, number> {
  const entries = [...new Set(projectIds)].map((id) => {
    const u = usage.get(id) ?? 0;
    const s = shares.get(id) ?? 0;
    return { id, usage: Number.isFinite(u) && u > 0 ? u : 0, share: Number.isFinite(s) && s > 0 ? s : 0 };
  });
  const compareRatio = (a: { usage: number; share: number }, b: { usage: number; share: number }): number => {
    const aShared = a.share > 0;
    const bShared = b.share > 0;
    if (aShared !== bShared) return aShared ? -1 : 1;
    if (!aShared) return a.usage - b.usage;
    // a.usage / a.share vs b.usage / b.share without dividing.
    const left = a.usage * b.share;
    const right = b.usage * a.share;
    return left < right ? -1 : left > right ? 1 : 0;
  };
  entries.sort((a, b) => compareRatio(a, b) || compareStrings(a.id, b.id));
  const ranks = new Map<string, number>();
  let rank = 0;
  for (let i = 0; i < entries.length; i += 1) {
    if (i > 0 && compareRatio(entries[i - 1], entries[i]) !== 0) rank += 1;
    ranks.set(entries[i].id, rank);
  }
  return ranks;
}

/**
 * The queue in scheduling order (see the module comment; with `settings.ordering` 'fifo': by
 * queuedAt, then id, only). Deterministic; does not mutate.
 */
export function orderQueue(snapshot: PartitionSnapshot): QueuedWorkload[] {
  return Array.from(queueInOrder(snapshot));
}

/**
 * The same order as `orderQueue`, produced lazily: a caller that stops early (the cycle, once
 * nothing more can start) skips the merge of the rest.
 */
export function* queueInOrder(snapshot: PartitionSnapshot): Generator<QueuedWorkload, void, undefined> {
  const fifo = snapshot.settings.ordering === 'fifo';
  if (!fifo && snapshot.queueLanes) {
    yield* laneOrder(snapshot, snapshot.queueLanes);
    return;
  }
  const queued = snapshot.queued;
  if (queued.length === 0) return;
  if (fifo) {
    yield* inFifoOrder(queued);
    return;
  }
  const cutoff = starvationCutoffMs(snapshot);
  if (cutoff !== null) {
    const starving: QueuedWorkload[] = [];
    const rest: QueuedWorkload[] = [];
    for (const w of queued) (w.queuedAt.getTime() <= cutoff ? starving : rest).push(w);
    if (starving.length > 0) {
      const first = inFifoOrder(starving);
      yield* first;
      yield* fairShareOrder(snapshot, rest, projectedGpus(snapshot, first));
      return;
    }
  }
  yield* fairShareOrder(snapshot, queued, null);
}

/** Workloads queued at or before this instant are starving (settings.starvationAfterSeconds); null: off. */
function starvationCutoffMs(snapshot: PartitionSnapshot): number | null {
  const guard = snapshot.settings.starvationAfterSeconds;
  return guard !== undefined && guard > 0 ? snapshot.now.getTime() - guard * 1000 : null;
}

/** GPUs that `ahead` adds to each program's projected running GPUs (admitting allocations only). */
function projectedGpus(snapshot: PartitionSnapshot, ahead: readonly QueuedWorkload[]): Map<string, number> {
  const projected = new Map<string, number>();
  for (const w of ahead) {
    if (snapshot.allocations.get(w.allocationId)?.admitting) {
      projected.set(w.programId, (projected.get(w.programId) ?? 0) + w.gpus);
    }
  }
  return projected;
}

/**
 * `queueInOrder` over `snapshot.queueLanes`: the starving prefixes of the lanes first (fifo), then a
 * two-level lazy merge — programs by projected entitlement standing, and inside a program its lanes
 * by (project fair-share rank, tier rank, head's queuedAt, head's id). Each lane is already in age
 * order, so only heads are compared: the same keys 1–5 as `fairShareOrder`, without sorting the queue.
 */
function* laneOrder(
  snapshot: PartitionSnapshot,
  lanes: readonly QueueLane[],
): Generator<QueuedWorkload, void, undefined> {
  const starts = new Int32Array(lanes.length);
  let projectedAhead: ReadonlyMap<string, number> | null = null;
  const cutoff = starvationCutoffMs(snapshot);
  if (cutoff !== null) {
    const starving: QueuedWorkload[] = [];
    for (let l = 0; l < lanes.length; l += 1) {
      const lane = lanes[l];
      let k = 0;
      while (k < lane.length && lane[k].queuedAt.getTime() <= cutoff) starving.push(lane[k++]);
      starts[l] = k;
    }
    if (starving.length > 0) {
      const first = inFifoOrder(starving);
      yield* first;
      projectedAhead = projectedGpus(snapshot, first);
    }
  }

  interface SubLane {
    items: QueueLane;
    head: number;
    project: number;
    tier: number;
  }
  const projectIds = new Set<string>();
  const tiers = new Set<number>();
  for (let l = 0; l < lanes.length; l += 1) {
    if (starts[l] >= lanes[l].length) continue;
    projectIds.add(lanes[l][0].projectId);
    tiers.add(lanes[l][0].priorityTier);
  }
  if (projectIds.size === 0) return;
  const projectRank = projectFairShareRanks(projectIds, snapshot.projectUsage, snapshot.projectShares);
  const tierRank = new Map([...tiers].sort((a, b) => b - a).map((t, r) => [t, r]));
  const compareHeads = (a: SubLane, b: SubLane): number => {
    const x = a.items[a.head];
    const y = b.items[b.head];
    return (
      a.project - b.project ||
      a.tier - b.tier ||
      x.queuedAt.getTime() - y.queuedAt.getTime() ||
      compareStrings(x.id, y.id)
    );
  };

  interface ProgramLanes {
    entitled: number;
    projected: number;
    subs: SubLane[];
  }
  const standings = programStandings(snapshot);
  const byProgram = new Map<string, ProgramLanes>();
  for (let l = 0; l < lanes.length; l += 1) {
    const lane = lanes[l];
    if (starts[l] >= lane.length) continue;
    const first = lane[0];
    let program = byProgram.get(first.programId);
    if (!program) {
      const s = standings.get(first.programId);
      program = {
        entitled: s?.entitledGpus ?? 0,
        projected: (s?.runningGpus ?? 0) + (projectedAhead?.get(first.programId) ?? 0),
        subs: [],
      };
      byProgram.set(first.programId, program);
    }
    program.subs.push({
      items: lane,
      head: starts[l],
      project: projectRank.get(first.projectId) ?? 0,
      tier: tierRank.get(first.priorityTier)!,
    });
  }
  const programs = [...byProgram.values()].map((p) => ({ ...p, heap: new MinHeap(p.subs, compareHeads) }));
  const outer = new MinHeap(
    programs,
    (a, b) =>
      compareEntitlement(a.projected, a.entitled, b.projected, b.entitled) ||
      compareHeads(a.heap.peek(), b.heap.peek()),
  );
  while (outer.size > 0) {
    const program = outer.peek();
    const sub = program.heap.peek();
    const w = sub.items[sub.head];
    sub.head += 1;
    if (sub.head === sub.items.length) program.heap.removeTop();
    else program.heap.topIncreased();
    if (snapshot.allocations.get(w.allocationId)?.admitting) program.projected += w.gpus;
    if (program.heap.size === 0) outer.removeTop();
    else outer.topIncreased();
    yield w;
  }
}

/**
 * Validates `snapshot.queueLanes`: each lane one (program, project, tier) in (queuedAt, id) order,
 * no workload twice, and — unless `queued` is empty (the lanes are then the queue) — every queued
 * workload in exactly one lane. Returns what is wrong, or null. O(queue).
 */
export function checkQueueLanes(snapshot: Pick<PartitionSnapshot, 'queued' | 'queueLanes'>): string | null {
  const lanes = snapshot.queueLanes;
  if (!lanes) return null;
  const queuedIds = new Set(snapshot.queued.map((w) => w.id));
  const seen = new Set<string>();
  for (let l = 0; l < lanes.length; l += 1) {
    const lane = lanes[l];
    for (let k = 0; k < lane.length; k += 1) {
      const w = lane[k];
      if (queuedIds.size > 0 && !queuedIds.has(w.id)) return `lane ${l} holds ${w.id}, which is not queued`;
      if (seen.has(w.id)) return `${w.id} is in more than one lane position`;
      seen.add(w.id);
      const first = lane[0];
      if (
        w.programId !== first.programId ||
        w.projectId !== first.projectId ||
        w.priorityTier !== first.priorityTier
      ) {
        return `lane ${l} mixes programs, projects or tiers (${w.id})`;
      }
      if (k > 0) {
        const p = lane[k - 1];
        const dt = p.queuedAt.getTime() - w.queuedAt.getTime();
        if (dt > 0 || (dt === 0 && compareStrings(p.id, w.id) >= 0))
          return `lane ${l} is not in (queuedAt, id) order at ${w.id}`;
      }
    }
  }
  if (queuedIds.size > 0 && seen.size !== queuedIds.size)
    return `${queuedIds.size - seen.size} queued workloads are in no lane`;
  return null;
}

/** A binary min-heap over `items` (taken over, not copied) by `compare`. */
class MinHeap<T> {
  constructor(
    private readonly items: T[],
    private readonly compare: (a: T, b: T) => number,
  ) {
    for (let i = (items.length >> 1) - 1; i >= 0; i -= 1) this.siftDown(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T {
    return this.items[0];
  }

  /** The top's key grew (never shrank): restore the order. */
  topIncreased(): void {
    this.siftDown(0);
  }

  removeTop(): void {
    const last = this.items.pop()!;
    if (this.items.length === 0) return;
    this.items[0] = last;
    this.siftDown(0);
  }

  private siftDown(start: number): void {
    const items = this.items;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && this.compare(items[l], items[m]) < 0) m = l;
      if (r < items.length && this.compare(items[r], items[m]) < 0) m = r;
      if (m === i) return;
      [items[i], items[m]] = [items[m], items[i]];
      i = m;
    }
  }
}

function inFifoOrder(queued: readonly QueuedWorkload[]): QueuedWorkload[] {
  if (inOrderAlready(queued)) return queued.slice();
  const order = fifoOrder(queued);
  const result = new Array<QueuedWorkload>(order.length);
  for (let j = 0; j < order.length; j += 1) result[j] = queued[order[j]];
  return result;
}

/** 0, 1, …, n − 1 (a plain loop: `Int32Array.from` with a mapping function is far slower). */
function identityOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i += 1) order[i] = i;
  return order;
}

/**
 * Keys 1–5 of the module comment over `queued`; `projectedAhead` adds GPUs already placed ahead of
 * these workloads (the starving ones) to their programs' projected running GPUs.
 */
function* fairShareOrder(
  snapshot: PartitionSnapshot,
  queued: readonly QueuedWorkload[],
  projectedAhead: ReadonlyMap<string, number> | null,
): Generator<QueuedWorkload, void, undefined> {
  const n = queued.length;
  if (n === 0) return;
  const projectIds = new Set<string>();
  for (const w of queued) projectIds.add(w.projectId);
  const projectRank = projectFairShareRanks(projectIds, snapshot.projectUsage, snapshot.projectShares);
  const order = withinProgramOrder(queued, projectRank);
  // rank[i] = position of workload i in the within-program order (lane heads compare by it).
  const rank = new Int32Array(n);
  for (let j = 0; j < n; j += 1) rank[order[j]] = j;

  // Split into per-program queues (each already in within-program order).
  const standings = programStandings(snapshot);
  interface Lane {
    programId: string;
    entitled: number;
    projected: number;
    items: number[];
    head: number;
  }
  const lanes = new Map<string, Lane>();
  for (const i of order) {
    const programId = queued[i].programId;
    let lane = lanes.get(programId);
    if (!lane) {
      const s = standings.get(programId);
      lane = {
        programId,
        entitled: s?.entitledGpus ?? 0,
        projected: (s?.runningGpus ?? 0) + (projectedAhead?.get(programId) ?? 0),
        items: [],
        head: 0,
      };
      lanes.set(programId, lane);
    }
    lane.items.push(i);
  }
  if (lanes.size === 1) {
    for (const i of order) yield queued[i];
    return;
  }

  const compareLanes = (a: Lane, b: Lane): number =>
    compareEntitlement(a.projected, a.entitled, b.projected, b.entitled) ||
    rank[a.items[a.head]] - rank[b.items[b.head]];

  // k-way merge with a binary heap of lanes; only the popped lane's key changes.
  const heap = new MinHeap([...lanes.values()], compareLanes);
  for (let out = 0; out < n; out += 1) {
    const lane = heap.peek();
    const w = queued[lane.items[lane.head]];
    lane.head += 1;
    if (snapshot.allocations.get(w.allocationId)?.admitting) lane.projected += w.gpus;
    if (lane.head === lane.items.length) heap.removeTop();
    else heap.topIncreased();
    yield w;
  }
}

/**
 * Indices of `queued` sorted by (project fair-share rank, higher tier, older queuedAt, id): an age
 * order (a native numeric sort of packed exact keys, skipped when the queue is already in age order),
 * then a stable counting sort by (rank, tier) group, so 100,000 workloads order in a few
 * milliseconds. A comparator sort is the fallback when the keys do not fit in exact integers
 * (absurd time spans or queue sizes).
 */
function withinProgramOrder(
  queued: readonly QueuedWorkload[],
  projectRank: ReadonlyMap<string, number>,
): Int32Array {
  const n = queued.length;
  const time = new Float64Array(n);
  const project = new Float64Array(n);
  const tiers = new Set<number>();
  let minTime = Number.POSITIVE_INFINITY;
  let maxTime = Number.NEGATIVE_INFINITY;
  let maxProject = 0;
  for (let i = 0; i < n; i += 1) {
    const w = queued[i];
    const t = w.queuedAt.getTime();
    time[i] = t;
    if (t < minTime) minTime = t;
    if (t > maxTime) maxTime = t;
    const r = projectRank.get(w.projectId) ?? 0;
    project[i] = r;
    if (r > maxProject) maxProject = r;
    tiers.add(w.priorityTier);
  }
  const tierList = [...tiers].sort((a, b) => b - a);
  // tier[i] = rank of workload i's priority tier (0 = highest); all 0 with one tier.
  const tier = new Int32Array(n);
  if (tierList.length > 1) {
    const tierRank = new Map(tierList.map((t, r) => [t, r]));
    for (let i = 0; i < n; i += 1) tier[i] = tierRank.get(queued[i].priorityTier)!;
  }
  const compare = (a: number, b: number): number =>
    project[a] - project[b] ||
    tier[a] - tier[b] ||
    time[a] - time[b] ||
    compareStrings(queued[a].id, queued[b].id);

  const span = maxTime - minTime + 1;
  const packed =
    Number.isFinite(span) &&
    span * n < Number.MAX_SAFE_INTEGER &&
    (maxProject + 1) * tierList.length * n < Number.MAX_SAFE_INTEGER &&
    tierList.every((tier) => Number.isFinite(tier));
  if (!packed) {
    const order = identityOrder(n);
    return order.sort(compare);
  }
  // Pass 1: age rank by (queuedAt, id) — nothing to do when the caller keeps the queue in that order.
  const byAge = inOrderAlready(queued) ? identityOrder(n) : ageOrder(queued, time, minTime);
  // Pass 2: a stable counting sort of the age order by group = projectRank × tiers + tierRank.
  const tierCount = tierList.length;
  const groups = (maxProject + 1) * tierCount;
  const group = new Int32Array(n);
  const counts = new Int32Array(groups + 1);
  for (let i = 0; i < n; i += 1) {
    group[i] = project[i] * tierCount + tier[i];
    counts[group[i] + 1] += 1;
  }
  for (let g = 0; g < groups; g += 1) counts[g + 1] += counts[g];
  const order = new Int32Array(n);
  for (let j = 0; j < n; j += 1) {
    const i = byAge[j];
    order[counts[group[i]]++] = i;
  }
  return order;
}

/** Indices sorted by (queuedAt, id): key = (t − min) × n + i in a native numeric sort, then ids. */
function ageOrder(queued: readonly QueuedWorkload[], time: Float64Array, minTime: number): Int32Array {
  const n = queued.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i += 1) keys[i] = (time[i] - minTime) * n + i;
  keys.sort();
  const byAge = new Int32Array(n);
  for (let j = 0; j < n; j += 1) byAge[j] = keys[j] % n;
  for (let j = 0; j < n;) {
    let k = j + 1;
    while (k < n && time[byAge[k]] === time[byAge[j]]) k += 1;
    if (k - j > 1) byAge.subarray(j, k).sort((a, b) => compareStrings(queued[a].id, queued[b].id));
    j = k;
  }
  return byAge;
}

/** Indices of `queued` sorted by (older queuedAt, id): the 'fifo' ordering. */
function fifoOrder(queued: readonly QueuedWorkload[]): Int32Array {
  const n = queued.length;
  if (inOrderAlready(queued)) return identityOrder(n);
  const time = new Float64Array(n);
  let minTime = Number.POSITIVE_INFINITY;
  let maxTime = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i += 1) {
    const t = queued[i].queuedAt.getTime();
    time[i] = t;
    if (t < minTime) minTime = t;
    if (t > maxTime) maxTime = t;
  }
  const byId = (a: number, b: number): number => compareStrings(queued[a].id, queued[b].id);
  const span = maxTime - minTime + 1;
  if (!(Number.isFinite(span) && span * n < Number.MAX_SAFE_INTEGER)) {
    return identityOrder(n).sort((a, b) => time[a] - time[b] || byId(a, b));
  }
  // key = (t − min) × n + i: a native numeric sort by time that encodes the index; then equal
  // instants by id.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i += 1) keys[i] = (time[i] - minTime) * n + i;
  keys.sort();
  const order = new Int32Array(n);
  for (let j = 0; j < n; j += 1) order[j] = keys[j] % n;
  for (let j = 0; j < n;) {
    let k = j + 1;
    while (k < n && time[order[k]] === time[order[j]]) k += 1;
    if (k - j > 1) order.subarray(j, k).sort(byId);
    j = k;
  }
  return order;
}

/** Whether `queued` is already sorted by (queuedAt, id): callers that keep it so skip the sort. */
function inOrderAlready(queued: readonly QueuedWorkload[]): boolean {
  for (let i = 1; i < queued.length; i += 1) {
    const a = queued[i - 1];
    const b = queued[i];
    const dt = a.queuedAt.getTime() - b.queuedAt.getTime();
    if (dt > 0 || (dt === 0 && compareStrings(a.id, b.id) >= 0)) return false;
  }
  return true;
}
