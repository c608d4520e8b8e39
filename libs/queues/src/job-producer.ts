import type { Queue } from 'bullmq';
import { jobOptionsFor, jobSchemas, queueFor, type JobItem, type QueueName } from './jobs.js';
import type { QueueTransport } from './queue-transport.js';

/** The one producer of jobs. Validates each payload against the shared contract before sending. */
export class JobProducer {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(private readonly transport: QueueTransport) {}

  async enqueue(job: JobItem): Promise<void> {
    jobSchemas[job.name].parse(job.data);
    await this.queue(queueFor(job.name)).add(job.name, job.data, jobOptionsFor(job));
  }

  async enqueueMany(jobs: JobItem[]): Promise<void> {
    const byQueue = new Map<QueueName, JobItem[]>();
    for (const job of jobs) {
      jobSchemas[job.name].parse(job.data);
      const name = queueFor(job.name);
      byQueue.set(name, [...(byQueue.get(name) ?? []), job]);
    }
    for (const [name, items] of byQueue) {
      await this.queue(name).addBulk(
        items.map((job) => ({ name: job.name, data: job.data, opts: jobOptionsFor(job) })),
      );
    }
  }

  /** Health: the queue backend answers. */
  async ping(): Promise<void> {
    await this.queue('intake').getJobCounts('waiting');
  }

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = this.transport.createQueue(name);
      queue.on('error', () => {
        // Surfaced through enqueue failures and /health/ready.
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}
