import { JobProducer, type JobItem, type QueueTransport } from '#queues';

/** A producer that records jobs, or fails every enqueue (Redis down) when `failing` is set. */
export class FakeJobProducer extends JobProducer {
  readonly jobs: JobItem[] = [];
  failing = false;

  constructor() {
    super({} as QueueTransport);
  }

  override enqueue(job: JobItem): Promise<void> {
    return this.enqueueMany([job]);
  }

  override enqueueMany(jobs: JobItem[]): Promise<void> {
    if (this.failing) return Promise.reject(new Error('redis is down'));
    this.jobs.push(...jobs);
    return Promise.resolve();
  }
}
