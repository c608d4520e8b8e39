import type { JobItem } from '../../libs/queues/src/index.js';

/**
 * Stands in for the JobProducer where a test drives the services in process: records what would go
 * to BullMQ, so the test can assert on it (and take the jobs it wants to run by hand).
 */
export class RecordingProducer {
  readonly jobs: JobItem[] = [];

  enqueue(job: JobItem): Promise<void> {
    this.jobs.push(job);
    return Promise.resolve();
  }

  enqueueMany(jobs: JobItem[]): Promise<void> {
    this.jobs.push(...jobs);
    return Promise.resolve();
  }

  queue(): { getJob: () => Promise<undefined> } {
    return { getJob: () => Promise.resolve(undefined) };
  }

  /** Removes and returns the recorded jobs of one name. */
  take(name: JobItem['name']): JobItem[] {
    const taken = this.jobs.filter((job) => job.name === name);
    this.jobs.splice(0, this.jobs.length, ...this.jobs.filter((job) => job.name !== name));
    return taken;
  }
}
