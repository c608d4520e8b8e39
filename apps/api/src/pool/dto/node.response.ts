import { z } from 'zod';
import type { NodeEntity } from '#persistence';
import type { NodeStateName } from './node.request.js';

export const nodeResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  clusterId: z.uuid(),
  nodePoolId: z.uuid(),
  gpuModel: z.string(),
  interconnectDomain: z.string(),
  gpusTotal: z.number().int().min(0),
  gpusAllocated: z.number().int().min(0),
  gpusFree: z.number().int().min(0),
  state: z.enum(['up', 'draining', 'down']),
  stateReason: z.string().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type NodeResponse = z.infer<typeof nodeResponse>;

export const nodePageResponse = z.object({ items: z.array(nodeResponse), nextCursor: z.string().nullable() });

export const nodeDetailResponse = nodeResponse.extend({
  /** Admitted and running workloads placed on this node, with the GPUs each holds here. */
  workloads: z.array(
    z.object({ id: z.uuid(), name: z.string(), state: z.string(), gpus: z.number().int().min(0) }),
  ),
});
export type NodeDetailResponse = z.infer<typeof nodeDetailResponse>;

export const nodeStateChangeResponse = nodeResponse.extend({
  /** False when the node already was in the requested state: nothing was written. */
  changed: z.boolean(),
  /** Workloads failed because the node went down, their program's requeue limit reached (their clusters are told to stop them). */
  failedWorkloadIds: z.array(z.uuid()),
  /** Workloads on the node that went back to the queue with their age, the failed attempt refunded. */
  requeuedWorkloadIds: z.array(z.uuid()),
});
export type NodeStateChangeResponse = z.infer<typeof nodeStateChangeResponse>;

export function toNodeResponse(node: NodeEntity): NodeResponse {
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
