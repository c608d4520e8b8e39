import type { PlacedReservation, PlanningNode, SecondsInterval } from './types.js';

/** Sorts half-open intervals and merges the ones that overlap or touch. */
export function mergeIntervals(intervals: readonly SecondsInterval[]): { starts: number[]; ends: number[] } {
  const sorted = [...intervals].sort((a, b) => a.start - b.start || a.end - b.end);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const { start, end } of sorted) {
    const last = ends.length - 1;
    if (last >= 0 && start <= ends[last]) {
      if (end > ends[last]) ends[last] = end;
    } else {
      starts.push(start);
      ends.push(end);
    }
  }
  return { starts, ends };
}

/** Seconds of [from, to) covered by merged intervals. */
export function coveredSeconds(
  starts: readonly number[],
  ends: readonly number[],
  from: number,
  to: number,
): number {
  let covered = 0;
  for (let k = 0; k < starts.length && starts[k] < to; k += 1) {
    const overlap = Math.min(ends[k], to) - Math.max(starts[k], from);
    if (overlap > 0) covered += overlap;
  }
  return covered;
}

/** First index k with values[k] >= target (values sorted ascending). */
export function lowerBound(values: readonly number[], target: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (values[mid] < target) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * The capacity calendar: per node a sorted list of busy intervals (unavailable spans and
 * reservations, merged), and the cluster and interconnect-domain groups nodes are placed in.
 * Nodes are kept in node-id order, so node index order is id order and every tie broken by index is
 * deterministic whatever order the input came in. Mutable only through `occupy`; the planner builds
 * its own from the input, so callers' data is never changed.
 */
export class NodeCalendar {
  readonly nodes: PlanningNode[];
  readonly nodeIndex = new Map<string, number>();
  /** Busy intervals per node (merged, sorted). */
  readonly busyStarts: number[][];
  readonly busyEnds: number[][];
  /** Unavailable intervals per node (merged, sorted): capacity that does not exist. */
  readonly downStarts: number[][];
  readonly downEnds: number[][];
  readonly clusterOf: Int32Array;
  readonly domainOf: Int32Array;
  /** Cluster ids, sorted; a node's cluster is clusterKeys[clusterOf[i]]. */
  readonly clusterKeys: string[];
  /** [clusterId, interconnectDomain] pairs, sorted. */
  readonly domainKeys: [string, string][];
  readonly clusterMembers: number[][];
  readonly domainMembers: number[][];
  private readonly byModel = new Map<string, number[]>();
  private readonly largestGroups = new Map<string, number>();

  constructor(
    nodes: readonly PlanningNode[],
    reservations: readonly PlacedReservation[],
    readonly horizonStart: number,
    readonly horizonEnd: number,
  ) {
    this.nodes = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.nodes.forEach((node, i) => this.nodeIndex.set(node.id, i));
    const spans: SecondsInterval[][] = this.nodes.map((node) => [...(node.unavailable ?? [])]);
    for (const reservation of reservations) {
      for (const nodeId of reservation.nodeIds) {
        const index = this.nodeIndex.get(nodeId);
        if (index !== undefined) spans[index].push({ start: reservation.start, end: reservation.end });
      }
    }
    this.busyStarts = [];
    this.busyEnds = [];
    this.downStarts = [];
    this.downEnds = [];
    spans.forEach((nodeSpans, i) => {
      const busy = mergeIntervals(nodeSpans);
      this.busyStarts.push(busy.starts);
      this.busyEnds.push(busy.ends);
      const down = mergeIntervals(this.nodes[i].unavailable ?? []);
      this.downStarts.push(down.starts);
      this.downEnds.push(down.ends);
    });

    this.clusterKeys = [...new Set(this.nodes.map((node) => node.clusterId))].sort();
    const clusterIndex = new Map(this.clusterKeys.map((key, i) => [key, i]));
    const domainKey = (node: PlanningNode): string => `${node.clusterId}\u0000${node.interconnectDomain}`;
    const domainKeyStrings = [...new Set(this.nodes.map(domainKey))].sort();
    const domainIndex = new Map(domainKeyStrings.map((key, i) => [key, i]));
    this.domainKeys = domainKeyStrings.map((key) => key.split('\u0000') as [string, string]);
    this.clusterOf = new Int32Array(this.nodes.length);
    this.domainOf = new Int32Array(this.nodes.length);
    this.clusterMembers = this.clusterKeys.map(() => []);
    this.domainMembers = domainKeyStrings.map(() => []);
    this.nodes.forEach((node, i) => {
      const cluster = clusterIndex.get(node.clusterId) as number;
      const domain = domainIndex.get(domainKey(node)) as number;
      this.clusterOf[i] = cluster;
      this.domainOf[i] = domain;
      this.clusterMembers[cluster].push(i);
      this.domainMembers[domain].push(i);
      const models = this.byModel.get(node.gpuModel) ?? [];
      models.push(i);
      this.byModel.set(node.gpuModel, models);
    });
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Node indexes of a GPU model, in id order. */
  nodesOfModel(gpuModel: string): readonly number[] {
    return this.byModel.get(gpuModel) ?? [];
  }

  gpuModels(): string[] {
    return [...this.byModel.keys()].sort();
  }

  /** Largest number of nodes of the model in one cluster (or one domain). */
  largestGroup(gpuModel: string, mode: 'cluster' | 'domain'): number {
    const key = `${mode}\u0000${gpuModel}`;
    const cached = this.largestGroups.get(key);
    if (cached !== undefined) return cached;
    const groupOf = mode === 'cluster' ? this.clusterOf : this.domainOf;
    const sizes = new Map<number, number>();
    let largest = 0;
    for (const i of this.nodesOfModel(gpuModel)) {
      const size = (sizes.get(groupOf[i]) ?? 0) + 1;
      sizes.set(groupOf[i], size);
      if (size > largest) largest = size;
    }
    this.largestGroups.set(key, largest);
    return largest;
  }

  /** True when nothing occupies node `index` anywhere in [start, end). */
  isFree(index: number, start: number, end: number): boolean {
    const starts = this.busyStarts[index];
    const ends = this.busyEnds[index];
    // The first busy interval starting at or after `end` cannot overlap; the one before it must end by `start`.
    const k = lowerBound(starts, end);
    return k === 0 || ends[k - 1] <= start;
  }

  /** Marks node `index` busy for [start, end). Throws if that would double-book it: a planner bug, never input. */
  occupy(index: number, start: number, end: number): void {
    if (!this.isFree(index, start, end)) {
      throw new Error(`planner invariant: node ${this.nodes[index].id} is not free for [${start}, ${end})`);
    }
    const starts = this.busyStarts[index];
    const ends = this.busyEnds[index];
    const k = lowerBound(starts, end);
    const joinsPrevious = k > 0 && ends[k - 1] === start;
    const joinsNext = k < starts.length && starts[k] === end;
    if (joinsPrevious && joinsNext) {
      ends[k - 1] = ends[k];
      starts.splice(k, 1);
      ends.splice(k, 1);
    } else if (joinsPrevious) {
      ends[k - 1] = end;
    } else if (joinsNext) {
      starts[k] = start;
    } else {
      starts.splice(k, 0, start);
      ends.splice(k, 0, end);
    }
  }

  /** Available (not unavailable) seconds of node `index` in [from, to). */
  availableSeconds(index: number, from: number, to: number): number {
    return to - from - coveredSeconds(this.downStarts[index], this.downEnds[index], from, to);
  }
}
