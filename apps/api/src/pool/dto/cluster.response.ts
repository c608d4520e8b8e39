import { z } from 'zod';
import { pageResponse } from '../../organizations/dto/fields.js';

export const nodesByStateResponse = z.object({
  up: z.number().int().min(0),
  draining: z.number().int().min(0),
  down: z.number().int().min(0),
});
export type NodesByState = z.infer<typeof nodesByStateResponse>;

export const siteResponse = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  provider: z.string(),
});
export type SiteResponse = z.infer<typeof siteResponse>;

export const nodePoolResponse = z.object({
  id: z.uuid(),
  gpuModel: z.string(),
  gpusPerNode: z.number().int().min(0),
  nodes: z.number().int().min(0),
  gpus: z.number().int().min(0),
  /** GPUs held by admitted or running workloads. */
  gpusAllocated: z.number().int().min(0),
  interconnectDomains: z.number().int().min(0),
  nodesByState: nodesByStateResponse,
});
export type NodePoolResponse = z.infer<typeof nodePoolResponse>;

export const clusterResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  adapter: z.string(),
  site: siteResponse,
  nodePools: z.array(nodePoolResponse),
  nodes: z.number().int().min(0),
  gpus: z.number().int().min(0),
  nodesByState: nodesByStateResponse,
  createdAt: z.iso.datetime(),
});
export type ClusterResponse = z.infer<typeof clusterResponse>;

export const clusterPageResponse = pageResponse(clusterResponse);
