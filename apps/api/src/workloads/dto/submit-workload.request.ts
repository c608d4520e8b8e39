import { z } from 'zod';
import { integerIn } from '#application';
import { uuidParam } from '../../common/ids.js';
import { displayText } from '../../organizations/dto/fields.js';
import { gpuModelField } from '../../allocation-requests/dto/request-line.request.js';

export const MAX_WORKLOAD_GPUS = 4096;
export const MIN_WALLTIME_SECONDS = 60;
/** 30 days: longer work is checkpointed and resubmitted, as on every national centre's queue. */
export const MAX_WALLTIME_SECONDS = 30 * 24 * 3600;
export const MAX_BATCH_COUNT = 10_000;
export const MAX_PRIORITY_TIER = 9;

const gpusField = z
  .int({ message: 'must be a whole number of GPUs' })
  .min(1, { message: 'must be at least 1 GPU' })
  .max(MAX_WORKLOAD_GPUS, { message: `must be at most ${MAX_WORKLOAD_GPUS} GPUs` });

const walltimeField = z
  .int({ message: 'must be a whole number of seconds' })
  .min(MIN_WALLTIME_SECONDS, { message: `must be at least ${MIN_WALLTIME_SECONDS} seconds` })
  .max(MAX_WALLTIME_SECONDS, { message: `must be at most ${MAX_WALLTIME_SECONDS} seconds (30 days)` });

const workloadFields = {
  allocationId: uuidParam,
  gpuModel: gpuModelField,
  gpus: gpusField,
  walltimeSeconds: walltimeField,
  name: displayText(200),
  /** Orders a project's own workloads; defaults to the allocation's tier. */
  priorityTier: integerIn(0, MAX_PRIORITY_TIER).optional(),
  /** Simulation only: how long the simulated cluster runs it (defaults to the walltime). */
  simulatedRuntimeSeconds: integerIn(0, MAX_WALLTIME_SECONDS, 'seconds').optional(),
};

export const submitWorkloadBody = z.strictObject(workloadFields);
export type SubmitWorkloadBody = z.infer<typeof submitWorkloadBody>;

export const submitBatchBody = z.strictObject({
  ...workloadFields,
  /** Number of elements; element i is named `<name>[i]`, i from 0. */
  count: integerIn(1, MAX_BATCH_COUNT),
});
export type SubmitBatchBody = z.infer<typeof submitBatchBody>;
