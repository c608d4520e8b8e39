import { lowerBound, type NodeCalendar } from './calendar.js';
import type { PlanningMonth } from './types.js';

/**
 * The earliest-start search.
 *
 * A node can host a line of duration d starting at t when no busy interval of the node meets
 * [t, t + d): within each free gap [g0, g1) of the node that is the window of starts [g0, g1 − d].
 * The number of nodes of a group (cluster, or interconnect domain) free at t can only rise where a
 * window opens, and a window opens at a gap's start — the end of a busy interval — or at the search's
 * own earliest start. The sector rule (sector-ledger.ts) is a per-month bound on the line's node-seconds
 * in that month; the set of starts that respect it is a union of intervals whose left ends are
 * `month.end − ⌊room / servers⌋`. So the earliest feasible start is the search's earliest start, a
 * busy-interval end, or such a month-derived time: the sweep visits exactly those, in order.
 *
 * Sweep: every eligible node sits in a min-heap keyed by the start of its next window; at a candidate
 * t the windows that have opened join the active set (and a second heap keyed by their last start),
 * windows that closed before t leave it and the node's next window is queued. Each group keeps a count
 * of active nodes; the first t where some group has ≥ servers active nodes (and the sector rule holds)
 * is the answer. Cost per search: O(W log W) where W is the number of windows visited — usually about
 * one per node of the model.
 */

export interface SlotQuery {
  gpuModel: string;
  servers: number;
  durationSeconds: number;
  /** No start before this. */
  earliestStart: number;
  /** No start after this (inclusive). Default: the last start that still ends inside the calendar. */
  latestStart?: number;
  sameInterconnectDomain: boolean;
  /**
   * Sector rule, per month index: node-seconds the line may still add in that month (Infinity = no
   * bound). Absent: no sector rule.
   */
  capRoom?: readonly number[];
  /** Only these node indexes (e.g. one cluster when replacing lost servers). Default: all nodes of the model. */
  allowedNodes?: readonly number[];
}

/** Counters of one search, for callers that need to know what shaped the answer. */
export interface SearchStats {
  /** Times the sector bound moved the candidate start; 0 means the bound decided nothing. */
  capJumps: number;
  /** Node windows taken from the opening heap. */
  windowsVisited: number;
}

export interface Slot {
  start: number;
  /** Cluster index (or domain index with sameInterconnectDomain) in the calendar. */
  group: number;
  /** Chosen node indexes, ascending. */
  nodes: number[];
}

/**
 * A min-heap of node indexes ordered by an external key array (ties by index, so pops are
 * deterministic). Lives in a reusable workspace: one search allocates nothing per node.
 */
class IndexHeap {
  private readonly items: Int32Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly keys: Float64Array,
  ) {
    this.items = new Int32Array(Math.max(1, capacity));
  }

  private less(a: number, b: number): boolean {
    const ka = this.keys[a];
    const kb = this.keys[b];
    return ka < kb || (ka === kb && a < b);
  }

  peek(): number {
    return this.items[0];
  }

  push(index: number): void {
    let at = this.size;
    this.size += 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const above = this.items[parent];
      if (!this.less(index, above)) break;
      this.items[at] = above;
      at = parent;
    }
    this.items[at] = index;
  }

  pop(): number {
    const top = this.items[0];
    this.size -= 1;
    if (this.size > 0) {
      const last = this.items[this.size];
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        if (left >= this.size) break;
        const right = left + 1;
        const child = right < this.size && this.less(this.items[right], this.items[left]) ? right : left;
        if (!this.less(this.items[child], last)) break;
        this.items[at] = this.items[child];
        at = child;
      }
      this.items[at] = last;
    }
    return top;
  }
}

/** Per-node scratch arrays of one calendar, reused by every search on it. */
class SweepWorkspace {
  readonly windowOpen: Float64Array;
  readonly windowClose: Float64Array;
  readonly gapStart: Float64Array;
  readonly gapEnd: Float64Array;
  readonly active: Uint8Array;
  readonly groupCount: Int32Array;
  readonly groupSize: Int32Array;
  readonly groupSeen: Uint8Array;
  readonly opening: IndexHeap;
  readonly closing: IndexHeap;

  constructor(nodeCount: number, groupCount: number) {
    this.windowOpen = new Float64Array(nodeCount);
    this.windowClose = new Float64Array(nodeCount);
    this.gapStart = new Float64Array(nodeCount);
    this.gapEnd = new Float64Array(nodeCount);
    this.active = new Uint8Array(nodeCount);
    this.groupCount = new Int32Array(groupCount);
    this.groupSize = new Int32Array(groupCount);
    this.groupSeen = new Uint8Array(groupCount);
    this.opening = new IndexHeap(nodeCount, this.windowOpen);
    this.closing = new IndexHeap(nodeCount, this.windowClose);
  }
}

const workspaces = new WeakMap<NodeCalendar, SweepWorkspace>();

function workspaceFor(calendar: NodeCalendar): SweepWorkspace {
  let workspace = workspaces.get(calendar);
  if (!workspace) {
    workspace = new SweepWorkspace(
      calendar.nodeCount,
      Math.max(calendar.clusterKeys.length, calendar.domainKeys.length),
    );
    workspaces.set(calendar, workspace);
  }
  return workspace;
}

/** Month-bound check: the smallest start ≥ t that every month's bound allows from t's point of view. */
function capJump(
  months: readonly PlanningMonth[],
  room: readonly number[],
  t: number,
  duration: number,
  servers: number,
): number {
  const end = t + duration;
  let jump = t;
  // Months are contiguous and t is inside them; find t's month by binary search.
  let low = 0;
  let high = months.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (months[mid].start <= t) low = mid;
    else high = mid - 1;
  }
  for (let m = low; m < months.length && months[m].start < end; m += 1) {
    const overlap = Math.min(end, months[m].end) - Math.max(t, months[m].start);
    if (servers * overlap > room[m]) {
      // The line's share of month m only shrinks once its end passes m.end, so it next fits at
      // m.end − ⌊room/servers⌋ (or after m when the sector has no room left there at all).
      const fits = room[m] > 0 ? Math.floor(room[m] / servers) : 0;
      if (months[m].end - fits > jump) jump = months[m].end - fits;
    }
  }
  return jump;
}

/** True when the sector bound allows a start at t. */
export function capAllows(
  months: readonly PlanningMonth[],
  room: readonly number[],
  t: number,
  duration: number,
  servers: number,
): boolean {
  return capJump(months, room, t, duration, servers) === t;
}

/**
 * The earliest start ≥ query.earliestStart at which `servers` nodes of the model, all in one cluster
 * (and one interconnect domain when asked), are free for the whole duration and the sector bound
 * holds — with the nodes chosen — or null when there is none before latestStart.
 *
 * Node choice at that start (best fit, deterministic): in each group with enough free nodes, rank
 * nodes by (1) the least idle time left before the start (t − end of the node's previous busy
 * interval; never-used nodes last), (2) the least idle time left after the end (start of the node's
 * next busy interval, or the calendar end, − (t + d)), (3) node id; take the first `servers`. Among
 * groups, take the one whose chosen nodes have the least total idle time before, then after, then the
 * lowest group (cluster id, then domain name). Filling gaps that just opened keeps long free stretches
 * whole for long lines.
 */
export function findEarliestSlot(
  calendar: NodeCalendar,
  months: readonly PlanningMonth[],
  query: SlotQuery,
  stats?: SearchStats,
): Slot | null {
  const latest = Math.min(query.latestStart ?? Infinity, calendar.horizonEnd - query.durationSeconds);
  if (query.earliestStart > latest) return null;
  const search = new SlotSweep(calendar, query, stats);
  const slot = search.run(months, latest);
  search.clear();
  return slot;
}

/** One earliest-start search: the sweep's state over the calendar's reusable workspace. */
class SlotSweep {
  private readonly duration: number;
  private readonly servers: number;
  private readonly from: number;
  private readonly horizonEnd: number;
  private readonly groupOf: Int32Array;
  private readonly members: readonly number[][];
  private readonly candidates: readonly number[];
  private readonly ws: SweepWorkspace;
  /** Groups holding at least one candidate node. */
  private readonly groups: number[];
  /** Groups with at least `servers` active nodes now. */
  private qualifying = 0;

  constructor(
    private readonly calendar: NodeCalendar,
    private readonly query: SlotQuery,
    private readonly stats: SearchStats | undefined,
  ) {
    this.duration = query.durationSeconds;
    this.servers = query.servers;
    this.from = query.earliestStart;
    this.horizonEnd = calendar.horizonEnd;
    this.groupOf = query.sameInterconnectDomain ? calendar.domainOf : calendar.clusterOf;
    this.members = query.sameInterconnectDomain ? calendar.domainMembers : calendar.clusterMembers;
    this.candidates = query.allowedNodes ?? calendar.nodesOfModel(query.gpuModel);
    this.ws = workspaceFor(calendar);
    this.groups = this.sizeGroups();
  }

  run(months: readonly PlanningMonth[], latest: number): Slot | null {
    const { duration, servers, stats } = this;
    const room = this.query.capRoom;
    const { windowOpen, opening } = this.ws;
    this.seedWindows();
    let t = this.from;
    while (t <= latest) {
      if (room !== undefined) {
        const jump = capJump(months, room, t, duration, servers);
        if (jump > t) {
          if (stats) stats.capJumps += 1;
          t = jump;
          continue;
        }
      }
      this.settleAt(t);
      if (this.qualifying > 0) return this.chooseNodes(t);
      if (opening.size === 0) return null;
      t = windowOpen[opening.peek()];
    }
    return null;
  }

  /** Leaves the workspace clean for the next search. */
  clear(): void {
    const { active } = this.ws;
    for (const i of this.candidates) active[i] = 0;
  }

  /** Counts candidate nodes per group (groups too small for the line never qualify). */
  private sizeGroups(): number[] {
    const { groupSeen, groupSize, groupCount } = this.ws;
    const groupOf = this.groupOf;
    const groups: number[] = [];
    for (const i of this.candidates) {
      const g = groupOf[i];
      if (groupSeen[g] === 0) {
        groupSeen[g] = 1;
        groupSize[g] = 0;
        groupCount[g] = 0;
        groups.push(g);
      }
      groupSize[g] += 1;
    }
    for (const g of groups) groupSeen[g] = 0;
    return groups;
  }

  /** Queues every node of a large enough group at its first window; nodes of small groups stay out. */
  private seedWindows(): void {
    const { active, groupSize, opening, closing } = this.ws;
    opening.size = 0;
    closing.size = 0;
    for (const i of this.candidates) {
      active[i] = 0;
      if (groupSize[this.groupOf[i]] >= this.servers && this.advance(i, this.from)) opening.push(i);
    }
  }

  /**
   * At candidate start t: windows opened by t join the active set, windows closed before t leave it
   * and their node's next window is queued — until nothing changes.
   */
  private settleAt(t: number): void {
    const { windowOpen, windowClose, active, groupCount, opening, closing } = this.ws;
    const { groupOf, servers, stats } = this;
    let changed = true;
    while (changed) {
      changed = false;
      while (opening.size > 0 && windowOpen[opening.peek()] <= t) {
        const i = opening.pop();
        if (stats) stats.windowsVisited += 1;
        if (windowClose[i] >= t) {
          active[i] = 1;
          closing.push(i);
          groupCount[groupOf[i]] += 1;
          if (groupCount[groupOf[i]] === servers) this.qualifying += 1;
        } else if (this.advance(i, t)) {
          opening.push(i);
        }
      }
      while (closing.size > 0 && windowClose[closing.peek()] < t) {
        const i = closing.pop();
        active[i] = 0;
        if (groupCount[groupOf[i]] === servers) this.qualifying -= 1;
        groupCount[groupOf[i]] -= 1;
        if (this.advance(i, t)) {
          opening.push(i);
          changed = true;
        }
      }
    }
  }

  /** Puts node i's first window whose last start is ≥ t into the window arrays; false when none. */
  private advance(i: number, t: number): boolean {
    const { duration, horizonEnd, from } = this;
    const { windowOpen, windowClose, gapStart, gapEnd } = this.ws;
    const starts = this.calendar.busyStarts[i];
    const ends = this.calendar.busyEnds[i];
    // Gaps before the first busy interval starting at or after t + d close too early.
    for (let k = lowerBound(starts, t + duration); k <= starts.length; k += 1) {
      const g0 = k === 0 ? -Infinity : ends[k - 1];
      if (g0 >= horizonEnd) return false;
      const g1 = k === starts.length ? horizonEnd : Math.min(starts[k], horizonEnd);
      const open = Math.max(g0, from);
      const close = g1 - duration;
      if (open <= close) {
        windowOpen[i] = open;
        windowClose[i] = close;
        gapStart[i] = g0;
        gapEnd[i] = g1;
        return true;
      }
    }
    return false;
  }

  /** Best fit at `start` (see findEarliestSlot): per group the tightest nodes, then the tightest group. */
  private chooseNodes(start: number): Slot {
    const { servers, members } = this;
    const { gapStart, gapEnd, active, groupCount } = this.ws;
    const end = start + this.duration;
    let best: { group: number; nodes: number[]; before: number; after: number } | null = null;
    for (const g of this.groups) {
      if (groupCount[g] < servers) continue;
      const free = members[g].filter((i) => active[i] === 1);
      free.sort((a, b) => {
        const beforeA = start - gapStart[a];
        const beforeB = start - gapStart[b];
        if (beforeA !== beforeB) return beforeA < beforeB ? -1 : 1;
        const afterA = gapEnd[a] - end;
        const afterB = gapEnd[b] - end;
        if (afterA !== afterB) return afterA < afterB ? -1 : 1;
        return a - b;
      });
      const chosen = free.slice(0, servers);
      let before = 0;
      let after = 0;
      for (const i of chosen) {
        before += start - gapStart[i];
        after += gapEnd[i] - end;
      }
      if (
        best === null ||
        before < best.before ||
        (before === best.before && (after < best.after || (after === best.after && g < best.group)))
      ) {
        best = { group: g, nodes: chosen, before, after };
      }
    }
    const chosen = best as { group: number; nodes: number[] };
    return { start, group: chosen.group, nodes: [...chosen.nodes].sort((a, b) => a - b) };
  }
}
