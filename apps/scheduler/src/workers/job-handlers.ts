import { SCHEDULER_JOB_NAMES, type JobData, type JobName } from '#queues';

export interface JobContext {
  jobId: string | undefined;
  attempt: number;
}

export type SchedulerJobName = Exclude<JobName, 'cluster.run' | 'cluster.cancel'>;
export type JobHandler<N extends JobName> = (data: JobData<N>, context: JobContext) => Promise<unknown>;
export type JobHandlers = { [N in SchedulerJobName]: JobHandler<N> };

/** Startup fails unless every job name the scheduler owns has exactly one handler. */
export function assertHandlers(handlers: Partial<Record<string, unknown>>): asserts handlers is JobHandlers {
  const missing = SCHEDULER_JOB_NAMES.filter((name) => typeof handlers[name] !== 'function');
  const unknown = Object.keys(handlers).filter((name) => !(SCHEDULER_JOB_NAMES as string[]).includes(name));
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(
      `Job handlers do not match the job contract: missing [${missing.join(', ')}], unknown [${unknown.join(', ')}]`,
    );
  }
}
