import { UnrecoverableError } from 'bullmq';
import { parseJob, type JobData, type JobItem } from '#queues';
import type { JobContext, JobHandler, JobHandlers, SchedulerJobName } from './job-handlers.js';

/** A job as the queue hands it over: name, raw payload, id and attempts already made. */
export interface RawJob {
  name: string;
  data: unknown;
  id?: string;
  attemptsMade: number;
}

type SchedulerJobItem = Extract<JobItem, { name: SchedulerJobName }>;

function isSchedulerJob(item: JobItem): item is SchedulerJobItem {
  return item.name !== 'cluster.run' && item.name !== 'cluster.cancel';
}

/**
 * Calls the handler of `item.name` with its payload. The table's type ties each name to its payload;
 * TypeScript cannot correlate the union member with the table entry, hence the one cast.
 */
export function routeJob<N extends SchedulerJobName>(
  handlers: JobHandlers,
  item: { name: N; data: JobData<N> },
  context: JobContext,
): Promise<unknown> {
  const handler = handlers[item.name] as JobHandler<N>;
  return handler(item.data, context);
}

/**
 * Parses a raw job and routes it to its handler. A payload that breaks the contract, or a job that
 * belongs to the simulated cluster, will never succeed here: UnrecoverableError, no retry.
 */
export async function handleJob(handlers: JobHandlers, job: RawJob): Promise<unknown> {
  let item: JobItem;
  try {
    item = parseJob(job.name, job.data);
  } catch (error) {
    throw new UnrecoverableError(
      `Invalid job ${job.name}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!isSchedulerJob(item)) {
    throw new UnrecoverableError(`Job ${item.name} belongs to the simulated cluster, not the scheduler`);
  }
  return routeJob(handlers, item, { jobId: job.id, attempt: job.attemptsMade + 1 });
}
