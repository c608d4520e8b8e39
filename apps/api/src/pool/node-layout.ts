/**
 * How a node pool's servers are named and grouped, in one pure function so the API and its tests
 * agree: nodes are `<cluster>-<model>-<n>` (n from 1, zero-padded so names sort in order) and
 * interconnect domains are `<cluster>/<model>/d<k>` (k from 1).
 */

/** Without an explicit domain count, a pool is cut into domains of this many nodes (the last may be smaller). */
export const DEFAULT_NODES_PER_DOMAIN = 32;

export interface NodeLayout {
  names: string[];
  domains: string[];
  /** How many distinct domains the layout uses. */
  domainCount: number;
}

export function defaultDomainCount(nodes: number): number {
  return Math.ceil(nodes / DEFAULT_NODES_PER_DOMAIN);
}

/**
 * `interconnectDomains` given: the nodes are split into that many contiguous domains whose sizes
 * differ by at most one. Not given: contiguous domains of 32 nodes.
 */
export function layoutNodes(
  cluster: string,
  gpuModel: string,
  nodes: number,
  interconnectDomains?: number,
): NodeLayout {
  if (!Number.isInteger(nodes) || nodes < 1) throw new RangeError(`nodes must be a positive integer`);
  if (interconnectDomains !== undefined && (interconnectDomains < 1 || interconnectDomains > nodes)) {
    throw new RangeError(`interconnectDomains must be between 1 and ${nodes}`);
  }
  const width = Math.max(4, String(nodes).length);
  const domainOf =
    interconnectDomains === undefined
      ? (index: number) => Math.floor(index / DEFAULT_NODES_PER_DOMAIN)
      : (index: number) => Math.floor((index * interconnectDomains) / nodes);
  const names = new Array<string>(nodes);
  const domains = new Array<string>(nodes);
  for (let index = 0; index < nodes; index++) {
    names[index] = `${cluster}-${gpuModel}-${String(index + 1).padStart(width, '0')}`;
    domains[index] = `${cluster}/${gpuModel}/d${domainOf(index) + 1}`;
  }
  return { names, domains, domainCount: interconnectDomains ?? defaultDomainCount(nodes) };
}
