import type { NodeEntity } from '#persistence';

export type NodeStateName = 'up' | 'draining' | 'down';

/** A node as the operator sees it (the API's node response, the audit trail). */
export interface NodeView {
  id: string;
  name: string;
  clusterId: string;
  nodePoolId: string;
  gpuModel: string;
  interconnectDomain: string;
  gpusTotal: number;
  gpusAllocated: number;
  gpusFree: number;
  state: NodeStateName;
  stateReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export function nodeView(node: NodeEntity): NodeView {
  return {
    id: node.id,
    name: node.name,
    clusterId: node.clusterId,
    nodePoolId: node.nodePoolId,
    gpuModel: node.gpuModel,
    interconnectDomain: node.interconnectDomain,
    gpusTotal: node.gpusTotal,
    gpusAllocated: node.gpusAllocated,
    gpusFree: node.gpusTotal - node.gpusAllocated,
    state: node.state as NodeStateName,
    stateReason: node.stateReason,
    createdAt: node.createdAt.toISOString(),
    updatedAt: node.updatedAt.toISOString(),
  };
}
