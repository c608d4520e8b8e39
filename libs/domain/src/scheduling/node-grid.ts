import type { NodeState, PoolNode } from './types.js';

/**
 * A uniform pool: `nodes` servers of `gpusPerNode` GPUs each, dealt in order into interconnect
 * domains of `nodesPerDomain` consecutive nodes (the last may be smaller). The names are the
 * caller's (each fixture, bench and replay keeps its own, so their outputs stay comparable).
 */
export interface NodeGridOptions {
  nodes: number;
  gpusPerNode: number;
  nodesPerDomain: number;
  /** The id of the node at `index` (from 0). */
  nodeId: (index: number) => string;
  /** The name of the domain at `domainIndex` (from 0). */
  domainId: (domainIndex: number) => string;
  /** Called once per node, in index order; default every node `up`. */
  state?: (index: number) => NodeState;
}

/** The grid's nodes, all GPUs free. */
export function buildNodeGrid(options: NodeGridOptions): PoolNode[] {
  const nodes: PoolNode[] = [];
  for (let index = 0; index < options.nodes; index += 1) {
    nodes.push({
      id: options.nodeId(index),
      domain: options.domainId(Math.floor(index / options.nodesPerDomain)),
      gpusTotal: options.gpusPerNode,
      gpusFree: options.gpusPerNode,
      state: options.state?.(index) ?? 'up',
    });
  }
  return nodes;
}

/** `value` zero-padded to `width` digits: ids that sort in index order. */
export function zeroPad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
