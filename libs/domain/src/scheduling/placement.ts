import { OrderedBitSet } from './ordered-bitset.js';
import type { PlacementPart, PoolNode } from './types.js';

/**
 * Placement of one workload on a partition's nodes.
 *
 * Rules (DESIGN.md "The scheduler", step 3):
 * - only `up` nodes take new placements;
 * - gpus ≤ gpusPerNode: ONE node, best fit — the up node with the fewest free GPUs that still fit
 *   (ties: smallest node id), so partly used nodes fill up and whole nodes stay free for gangs;
 * - gpus > gpusPerNode: a gang of gpus / gpusPerNode WHOLLY FREE up nodes inside ONE interconnect
 *   domain (all or nothing); the domain with the fewest wholly free nodes that still suffices wins
 *   (ties: smallest domain id), and inside it the nodes with the smallest ids.
 *
 * The capacity index keeps, per free-GPU count, the set of up nodes with exactly that many free
 * GPUs, and per domain the set of its wholly free up nodes, with domains bucketed by how many
 * wholly free nodes they have. Every query and update is O(gpusPerNode + domain size) at most,
 * independent of the number of nodes.
 */
export class CapacityIndex {
  /** Free GPUs per node rank (all states: draining/down nodes still release GPUs). */
  readonly nodeFree: Int32Array;
  /** Buckets of up nodes by free GPUs: freeBuckets[f] holds node ranks with exactly f free (f ≥ 1). */
  private readonly freeBuckets: OrderedBitSet[];
  /** Per domain rank: domain-local indices of its wholly free up nodes. */
  private readonly domainWhole: OrderedBitSet[];
  /** Domains bucketed by their number of wholly free up nodes (c ≥ 1). */
  private readonly domainBuckets: OrderedBitSet[];
  private freeUpGpus: number;

  private constructor(
    readonly layout: NodeLayout,
    nodeFree: Int32Array,
    freeBuckets: OrderedBitSet[],
    domainWhole: OrderedBitSet[],
    domainBuckets: OrderedBitSet[],
    freeUpGpus: number,
  ) {
    this.nodeFree = nodeFree;
    this.freeBuckets = freeBuckets;
    this.domainWhole = domainWhole;
    this.domainBuckets = domainBuckets;
    this.freeUpGpus = freeUpGpus;
  }

  static build(nodes: readonly PoolNode[], gpusPerNode: number): CapacityIndex {
    const layout = buildLayout(nodes, gpusPerNode);
    const n = layout.nodeIds.length;
    const freeBuckets: OrderedBitSet[] = [];
    for (let f = 0; f <= layout.maxNodeGpus; f += 1) freeBuckets.push(new OrderedBitSet(n));
    const domainWhole = layout.domainNodes.map((members) => new OrderedBitSet(members.length));
    const domainBuckets: OrderedBitSet[] = [];
    for (let c = 0; c <= layout.maxDomainNodes; c += 1) {
      domainBuckets.push(new OrderedBitSet(layout.domainIds.length));
    }
    const index = new CapacityIndex(layout, new Int32Array(n), freeBuckets, domainWhole, domainBuckets, 0);
    for (let rank = 0; rank < n; rank += 1) {
      const node = layout.sourceNodes[rank];
      const free = clamp(node.gpusFree, 0, layout.nodeTotal[rank]);
      index.nodeFree[rank] = 0;
      index.setFree(rank, free);
    }
    return index;
  }

  get gpusPerNode(): number {
    return this.layout.gpusPerNode;
  }

  /** Free GPUs on up nodes. */
  get freeGpus(): number {
    return this.freeUpGpus;
  }

  rankOf(nodeId: string): number | undefined {
    return this.layout.rankById.get(nodeId);
  }

  freeOf(nodeId: string): number | undefined {
    const rank = this.layout.rankById.get(nodeId);
    return rank === undefined ? undefined : this.nodeFree[rank];
  }

  /** Sets a node's free GPUs and keeps every bucket consistent. */
  setFree(rank: number, free: number): void {
    const layout = this.layout;
    const total = layout.nodeTotal[rank];
    const next = clamp(free, 0, total);
    const before = this.nodeFree[rank];
    if (next === before) return;
    this.nodeFree[rank] = next;
    if (layout.nodeUp[rank] !== 1) return;
    this.freeUpGpus += next - before;
    if (before > 0) this.freeBuckets[before].delete(rank);
    if (next > 0) this.freeBuckets[next].add(rank);
    const eligible = layout.nodeGangEligible[rank] === 1;
    const wasWhole = eligible && before === total;
    const isWhole = eligible && next === total;
    if (wasWhole === isWhole) return;
    const domain = layout.nodeDomain[rank];
    const set = this.domainWhole[domain];
    const countBefore = set.size;
    if (isWhole) set.add(layout.nodeLocal[rank]);
    else set.delete(layout.nodeLocal[rank]);
    const countAfter = set.size;
    if (countBefore > 0) this.domainBuckets[countBefore].delete(domain);
    if (countAfter > 0) this.domainBuckets[countAfter].add(domain);
  }

  /** Takes GPUs (a placement this index produced, or a running workload's placement put back). */
  take(parts: readonly PlacementPart[]): void {
    for (const part of parts) {
      const rank = this.layout.rankById.get(part.nodeId);
      if (rank === undefined) continue;
      this.setFree(rank, this.nodeFree[rank] - part.gpus);
    }
  }

  /** Gives GPUs back (a workload ended or was preempted). Never above a node's total. */
  release(parts: readonly PlacementPart[]): void {
    for (const part of parts) {
      const rank = this.layout.rankById.get(part.nodeId);
      if (rank === undefined) continue;
      this.setFree(rank, this.nodeFree[rank] + part.gpus);
    }
  }

  /** Where `gpus` would go now, without taking them; null when it does not fit (or is malformed). */
  find(gpus: number): PlacementPart[] | null {
    const layout = this.layout;
    if (!Number.isInteger(gpus) || gpus < 1) return null;
    if (gpus > this.freeUpGpus) return null;
    if (gpus <= layout.gpusPerNode) {
      for (let f = gpus; f <= layout.maxNodeGpus; f += 1) {
        const rank = this.freeBuckets[f].min();
        if (rank >= 0) return [{ nodeId: layout.nodeIds[rank], gpus }];
      }
      return null;
    }
    if (gpus % layout.gpusPerNode !== 0) return null;
    const needed = gpus / layout.gpusPerNode;
    for (let c = needed; c <= layout.maxDomainNodes; c += 1) {
      const domain = this.domainBuckets[c].min();
      if (domain < 0) continue;
      const members = layout.domainNodes[domain];
      const whole = this.domainWhole[domain].values();
      const parts: PlacementPart[] = [];
      for (let i = 0; i < needed; i += 1) {
        parts.push({ nodeId: layout.nodeIds[members[whole[i]]], gpus: layout.gpusPerNode });
      }
      return parts;
    }
    return null;
  }

  /** True when `gpus` fits now (same answer as `find(gpus) !== null`, without building parts). */
  fits(gpus: number): boolean {
    const layout = this.layout;
    if (!Number.isInteger(gpus) || gpus < 1 || gpus > this.freeUpGpus) return false;
    if (gpus <= layout.gpusPerNode) {
      for (let f = gpus; f <= layout.maxNodeGpus; f += 1) {
        if (this.freeBuckets[f].size > 0) return true;
      }
      return false;
    }
    if (gpus % layout.gpusPerNode !== 0) return false;
    for (let c = gpus / layout.gpusPerNode; c <= layout.maxDomainNodes; c += 1) {
      if (this.domainBuckets[c].size > 0) return true;
    }
    return false;
  }

  clone(): CapacityIndex {
    return new CapacityIndex(
      this.layout,
      this.nodeFree.slice(),
      this.freeBuckets.map((b) => b.clone()),
      this.domainWhole.map((b) => b.clone()),
      this.domainBuckets.map((b) => b.clone()),
      this.freeUpGpus,
    );
  }
}

/** The immutable part of an index: nodes ranked by id, domains ranked by id. Shared by clones. */
export interface NodeLayout {
  gpusPerNode: number;
  nodeIds: string[];
  sourceNodes: PoolNode[];
  rankById: Map<string, number>;
  nodeTotal: Int32Array;
  nodeUp: Uint8Array;
  /** Up or not, the node can take a gang share: gpusTotal ≥ gpusPerNode. */
  nodeGangEligible: Uint8Array;
  nodeDomain: Int32Array;
  nodeLocal: Int32Array;
  domainIds: string[];
  /** Per domain rank: node ranks in id order (index = domain-local index). */
  domainNodes: number[][];
  maxNodeGpus: number;
  maxDomainNodes: number;
}

function buildLayout(nodes: readonly PoolNode[], gpusPerNode: number): NodeLayout {
  if (!Number.isInteger(gpusPerNode) || gpusPerNode < 1) {
    throw new RangeError(`gpusPerNode must be a positive integer, got ${gpusPerNode}`);
  }
  const sourceNodes = [...nodes].sort((a, b) => compareStrings(a.id, b.id));
  const n = sourceNodes.length;
  const nodeIds = sourceNodes.map((node) => node.id);
  const rankById = new Map<string, number>();
  nodeIds.forEach((id, rank) => {
    if (rankById.has(id)) throw new RangeError(`duplicate node id ${id}`);
    rankById.set(id, rank);
  });
  const domainIds = [...new Set(sourceNodes.map((node) => node.domain))].sort(compareStrings);
  const domainRank = new Map(domainIds.map((id, rank) => [id, rank]));
  const domainNodes: number[][] = domainIds.map(() => []);
  const nodeTotal = new Int32Array(n);
  const nodeUp = new Uint8Array(n);
  const nodeGangEligible = new Uint8Array(n);
  const nodeDomain = new Int32Array(n);
  const nodeLocal = new Int32Array(n);
  let maxNodeGpus = gpusPerNode;
  for (let rank = 0; rank < n; rank += 1) {
    const node = sourceNodes[rank];
    const total = Math.max(0, Math.trunc(node.gpusTotal));
    nodeTotal[rank] = total;
    nodeUp[rank] = node.state === 'up' ? 1 : 0;
    nodeGangEligible[rank] = total >= gpusPerNode ? 1 : 0;
    const domain = domainRank.get(node.domain)!;
    nodeDomain[rank] = domain;
    const members = domainNodes[domain];
    nodeLocal[rank] = members.length;
    members.push(rank);
    maxNodeGpus = Math.max(maxNodeGpus, total);
  }
  const maxDomainNodes = domainNodes.reduce((max, members) => Math.max(max, members.length), 0);
  return {
    gpusPerNode,
    nodeIds,
    sourceNodes,
    rankById,
    nodeTotal,
    nodeUp,
    nodeGangEligible,
    nodeDomain,
    nodeLocal,
    domainIds,
    domainNodes,
    maxNodeGpus,
    maxDomainNodes,
  };
}

/** A mutable capacity index over a partition's nodes (their current `gpusFree` and `state`). */
export function createCapacityIndex(nodes: readonly PoolNode[], gpusPerNode: number): CapacityIndex {
  return CapacityIndex.build(nodes, gpusPerNode);
}

/**
 * Places `gpus` and takes them from the index; returns the parts, or null (index unchanged) when
 * it does not fit now or the size is not placeable (see `validateGang`).
 */
export function placeWorkload(
  index: CapacityIndex,
  gpus: number,
  gpusPerNode: number,
): PlacementPart[] | null {
  if (gpusPerNode !== index.gpusPerNode) {
    throw new RangeError(`index was built for ${index.gpusPerNode} GPUs per node, not ${gpusPerNode}`);
  }
  const parts = index.find(gpus);
  if (parts) index.take(parts);
  return parts;
}

/**
 * Why a workload size can never be placed on nodes of `gpusPerNode`, for the API to refuse it at
 * submission (422); null when the shape is valid. Does not look at capacity: see `maxPlaceableGpus`.
 */
export function validateGang(gpus: number, gpusPerNode: number): string | null {
  if (!Number.isInteger(gpus) || gpus < 1) return `GPU count must be a positive whole number, got ${gpus}.`;
  if (gpus <= gpusPerNode) return null;
  if (gpus % gpusPerNode !== 0) {
    const lower = Math.floor(gpus / gpusPerNode) * gpusPerNode;
    const upper = lower + gpusPerNode;
    return (
      `A workload of more than ${gpusPerNode} GPUs runs on whole ${gpusPerNode}-GPU nodes, so its GPU count ` +
      `must be a multiple of ${gpusPerNode} (e.g. ${lower} or ${upper}), got ${gpus}.`
    );
  }
  return null;
}

/**
 * The largest workload any placement could ever give on these nodes when they are empty: the
 * largest interconnect domain's gang (its nodes with ≥ gpusPerNode GPUs × gpusPerNode), or a single
 * node's GPUs (at most gpusPerNode) when no node can take a gang share. Counts every registered
 * node whatever its state — draining and down are transient; the API refuses only what no
 * placement of the registered pool could give.
 */
export function maxPlaceableGpus(nodes: readonly PoolNode[], gpusPerNode: number): number {
  const perDomain = new Map<string, number>();
  let single = 0;
  for (const node of nodes) {
    single = Math.max(single, Math.min(node.gpusTotal, gpusPerNode));
    if (node.gpusTotal >= gpusPerNode) perDomain.set(node.domain, (perDomain.get(node.domain) ?? 0) + 1);
  }
  let gang = 0;
  for (const count of perDomain.values()) gang = Math.max(gang, count * gpusPerNode);
  return Math.max(single, gang);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}
