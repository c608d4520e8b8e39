import { z } from 'zod';

const gpus = (description: string) => z.number().int().min(0).meta({ description });

const capacityFigures = {
  nodes: z.number().int().min(0).meta({ description: 'Nodes of the model, in any state.' }),
  total: gpus('Every GPU of the model, in any state.'),
  inUse: gpus('GPUs held by admitted or running workloads on up and draining nodes.'),
  reserved: gpus(
    'GPUs of nodes held by a reservation now (reserved allocations: whole servers on the capacity ' +
      'calendar), in any node state. They run their owner’s work; idle ones may be lent preemptibly.',
  ),
  draining: gpus('GPUs of draining nodes (in use or not): they finish what runs and take nothing new.'),
  down: gpus('GPUs of down nodes.'),
  free: gpus('Unallocated GPUs of up nodes: what the scheduler can place on now.'),
  queuedDemand: gpus('GPUs asked for by queued workloads (sum of their gpus).'),
  queuedWorkloads: z.number().int().min(0).meta({ description: 'Queued workloads of the model.' }),
};

export const capacityLineResponse = z.object({
  gpuModel: z.string(),
  gpusPerNode: z
    .number()
    .int()
    .meta({ description: 'GPUs per node of the model (the largest, if its pools differ; 0 if no nodes).' }),
  ...capacityFigures,
});
export type CapacityLine = z.infer<typeof capacityLineResponse>;

export const capacityResponse = z
  .object({
    models: z.array(capacityLineResponse),
    totals: z.object(capacityFigures),
    at: z.iso.datetime(),
  })
  .meta({
    description:
      'Pool capacity per GPU model. `inUse`, `draining` and `down` overlap where a draining node still runs ' +
      'work; `free` counts up nodes only. `reserved` counts the GPUs of nodes under a reservation now.',
  });
export type CapacityResponse = z.infer<typeof capacityResponse>;
