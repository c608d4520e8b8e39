/**
 * Placement limits known at submission. A private stand-in for libs/domain's
 * `validateGang(gpus, gpusPerNode)` and `maxPlaceableGpus(nodes, gpusPerNode)` (libs/domain/src/scheduling,
 * in progress elsewhere), with the same rules: a workload that fits on one node may go on any node
 * big enough; one that needs more than a node takes whole nodes inside one interconnect domain
 * (gang), so it must be a whole multiple of gpusPerNode. These work on per-domain aggregates so a
 * submission never loads 6,250 node rows.
 */

/** One interconnect domain of a GPU model, as summed by SQL over its nodes that are not down. */
export interface DomainCapacity {
  domain: string;
  /** Nodes with at least gpusPerNode GPUs: what a multi-node workload can take whole. */
  wholeNodes: number;
  /** GPUs of the largest node: the most a single-node workload can get. */
  largestNodeGpus: number;
}

/** A reason string when `gpus` cannot form a gang of whole nodes, else null. */
export function validateGang(gpus: number, gpusPerNode: number): string | null {
  if (gpus <= gpusPerNode || gpus % gpusPerNode === 0) return null;
  const below = Math.floor(gpus / gpusPerNode) * gpusPerNode;
  const above = below + gpusPerNode;
  return `${gpus} GPUs spans more than one ${gpusPerNode}-GPU server, so it must take whole servers: ask for a multiple of ${gpusPerNode} (e.g. ${below} or ${above}).`;
}

/** The most GPUs any one placement can give: a whole interconnect domain, or the largest node. */
export function maxPlaceableGpus(domains: readonly DomainCapacity[], gpusPerNode: number): number {
  let best = 0;
  for (const domain of domains) {
    best = Math.max(best, domain.largestNodeGpus, domain.wholeNodes * gpusPerNode);
  }
  return best;
}
