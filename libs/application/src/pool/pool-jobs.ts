import type { JobItem } from '#queues';

/**
 * After a capacity change of these models: a scheduling cycle each, and a re-plan of each model's
 * reservation waitlist (new or returning nodes may let a waitlisted reserved line in; a lost node
 * moves the earliest start offered).
 */
export function cycleJobs(gpuModels: Iterable<string>): JobItem[] {
  const models = [...new Set(gpuModels)].sort();
  return [
    ...models.map((gpuModel): JobItem => ({ name: 'schedule.cycle', data: { gpuModel } })),
    ...models.map((gpuModel): JobItem => ({ name: 'planning.replan', data: { gpuModel } })),
  ];
}
