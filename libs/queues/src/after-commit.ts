import type { JobItem } from './jobs.js';
import type { JobProducer } from './job-producer.js';

/** What the helper needs of a logger: pino's and Nest's both fit. */
export interface WarningLogger {
  warn(details: object, message: string): void;
}

/**
 * Enqueues jobs for changes that are already committed. The change is the truth in PostgreSQL, so
 * a failed enqueue (Redis down, a flush) is logged and swallowed: `recoveredBy` names the sweep
 * that finds the row again without this job. Returns whether the jobs were sent.
 */
export async function enqueueAfterCommit(
  producer: JobProducer,
  jobs: JobItem | JobItem[],
  options: { logger: WarningLogger; recoveredBy: string },
): Promise<boolean> {
  const items = Array.isArray(jobs) ? jobs : [jobs];
  if (items.length === 0) return true;
  try {
    if (items.length === 1) await producer.enqueue(items[0]);
    else await producer.enqueueMany(items);
    return true;
  } catch (error: unknown) {
    options.logger.warn(
      {
        jobs: items.map((job) => ({ name: job.name, data: job.data })),
        err: error instanceof Error ? { message: error.message, stack: error.stack } : error,
      },
      `enqueue after commit failed; ${options.recoveredBy} recovers it from PostgreSQL`,
    );
    return false;
  }
}
