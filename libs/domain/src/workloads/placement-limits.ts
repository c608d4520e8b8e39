/**
 * The largest placement of a GPU model, from per-domain aggregates. Same rule as libs/domain's
 * `maxPlaceableGpus(nodes, gpusPerNode)` — one node gives at most gpusPerNode, a gang takes whole
 * nodes of one interconnect domain — but over what SQL sums per domain, so a submission never loads
 * 6,250 node rows. The gang rule itself is libs/domain's `validateGang`.
 */

/** One interconnect domain of a GPU model, summed by SQL over its nodes that are not down. */
export interface DomainCapacity {
  domain: string;
  /** Nodes with at least gpusPerNode GPUs: what a multi-node workload can take whole. */
  wholeNodes: number;
  /** GPUs of the largest node. */
  largestNodeGpus: number;
}

export function maxPlaceableGpusOf(domains: readonly DomainCapacity[], gpusPerNode: number): number {
  let best = 0;
  for (const domain of domains) {
    best = Math.max(best, Math.min(domain.largestNodeGpus, gpusPerNode), domain.wholeNodes * gpusPerNode);
  }
  return best;
}
