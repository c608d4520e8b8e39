import { z } from 'zod';

/** Queue names: one per kind of work, so a slow kind never starves another. */
export const QUEUE_NAMES = ['intake', 'maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/**
 * The typed job contract shared by producer (api) and consumer (scheduler). Payloads carry ids,
 * never rows: the worker re-reads PostgreSQL, the source of truth.
 */
export const jobSchemas = {
  /** Create the allocations of an approved request and post the grant, exactly once. */
  'grant.allocation': z.strictObject({ requestId: z.uuid() }),
  /** Sweep PostgreSQL for approved requests whose grant job Redis may have lost. */
  'reconcile.grants': z.strictObject({}),
} as const;

export type JobName = keyof typeof jobSchemas;
export type JobData<N extends JobName> = z.infer<(typeof jobSchemas)[N]>;
export type JobItem = { [N in JobName]: { name: N; data: JobData<N> } }[JobName];

export const JOB_NAMES = Object.keys(jobSchemas) as JobName[];

const queueOfJob: Record<JobName, QueueName> = {
  'grant.allocation': 'intake',
  'reconcile.grants': 'maintenance',
};

export function queueFor(name: JobName): QueueName {
  return queueOfJob[name];
}

export function parseJob(name: string, data: unknown): JobItem {
  if (!(name in jobSchemas)) throw new Error(`Unknown job name "${name}"`);
  const schema = jobSchemas[name as JobName];
  return { name, data: schema.parse(data) } as JobItem;
}

export interface JobOptions {
  jobId?: string;
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  removeOnComplete: { count: number } | boolean;
  removeOnFail: { count: number } | boolean;
}

/**
 * Job ids and retries decided in one place. A job id only blocks a duplicate while the earlier job
 * still exists in the queue; exactly-once comes from PostgreSQL (unique keys), never from the id.
 */
export function jobOptionsFor(job: JobItem): JobOptions {
  const base = {
    attempts: 8,
    backoff: { type: 'exponential' as const, delay: 500 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
  switch (job.name) {
    case 'grant.allocation':
      return { ...base, jobId: `grant-${job.data.requestId}` };
    case 'reconcile.grants':
      return { ...base, attempts: 1 };
  }
}
