import { z } from 'zod';
import { pageResponse } from '../../organizations/dto/fields.js';
import { WORKLOAD_STATES } from '#domain';

const amount = z.object({
  /** Exact integer GPU-seconds as a decimal string. */
  gpuSeconds: z.string(),
  /** The same amount in GPU-hours, for people. */
  gpuHours: z.string(),
});

const instant = z.iso.datetime();

export const placementPartResponse = z.object({
  nodeId: z.uuid(),
  nodeName: z.string(),
  cluster: z.string(),
  interconnectDomain: z.string(),
  gpus: z.int(),
});

export const waitResponse = z.object({
  /** quota, concurrency_cap, capacity, reserved_for_head, behind_others, allocation_not_admitting — or null before the first cycle. */
  reason: z.string().nullable(),
  detail: z.string().nullable(),
  /** 1-based position in its GPU model's queue, as of the last scheduling cycle. */
  position: z.int().nullable(),
  estimatedStartAt: instant.nullable(),
});

export const workloadResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  allocationId: z.uuid(),
  projectId: z.uuid(),
  programId: z.uuid(),
  gpuModel: z.string(),
  gpus: z.int(),
  walltimeSeconds: z.int(),
  priorityTier: z.int(),
  state: z.enum(WORKLOAD_STATES),
  allowedActions: z.array(z.literal('cancel')),
  /** Admission attempt: grows when a preempted workload is requeued. Agents report per attempt. */
  attempt: z.int(),
  batchId: z.uuid().nullable(),
  submittedBy: z.uuid().nullable(),
  simulatedRuntimeSeconds: z.int().nullable(),
  borrowed: z.boolean(),
  placement: z.array(placementPartResponse),
  held: amount,
  consumed: amount,
  wait: waitResponse.nullable(),
  queuedAt: instant,
  admittedAt: instant.nullable(),
  dispatchedAt: instant.nullable(),
  startedAt: instant.nullable(),
  endedAt: instant.nullable(),
  endReason: z.string().nullable(),
  createdAt: instant,
  updatedAt: instant,
});
export type WorkloadResponse = z.infer<typeof workloadResponse>;
export type PlacementPartResponse = z.infer<typeof placementPartResponse>;

export const workloadPageResponse = pageResponse(workloadResponse);

export const batchResponse = z.object({
  batchId: z.uuid(),
  count: z.int(),
  state: z.literal('queued'),
  /** The element ids in index order, for batches of up to 1,000; larger ones: GET /v1/workloads?batchId=. */
  ids: z.array(z.uuid()).optional(),
});
export type BatchResponse = z.infer<typeof batchResponse>;
