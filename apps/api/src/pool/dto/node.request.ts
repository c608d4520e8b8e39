import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';
import { displayText } from '../../organizations/dto/fields.js';
import { poolGpuModel } from './cluster.request.js';

export const NODE_STATES = ['up', 'draining', 'down'] as const;
export type NodeStateName = (typeof NODE_STATES)[number];

export const listNodesQuery = z.strictObject({
  ...paginationQuery,
  clusterId: uuidParam.optional(),
  nodePoolId: uuidParam.optional(),
  gpuModel: poolGpuModel.optional(),
  state: z.enum(NODE_STATES).optional(),
  interconnectDomain: z.string().min(1).max(200).optional(),
});
export type ListNodesQuery = z.infer<typeof listNodesQuery>;

export const changeNodeStateRequest = z
  .strictObject({
    state: z.enum(NODE_STATES),
    reason: displayText(200).optional(),
  })
  .meta({
    description:
      '`draining`: the node keeps what runs on it and takes no new placement. `down`: every admitted or ' +
      'running workload on it fails with reason `node_down: <node>: <reason>`, its GPUs and quota hold are ' +
      'released and the cluster is told to stop it. `up`: the node takes placements again. Sending the ' +
      'current state again changes nothing (200, `changed: false`).',
  });
export type ChangeNodeStateRequest = z.infer<typeof changeNodeStateRequest>;
