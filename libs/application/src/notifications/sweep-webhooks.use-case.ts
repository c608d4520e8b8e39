import { WebhookDeliveryRepository } from '#persistence';
import { jobOptionsFor, JobProducer, type JobItem } from '#queues';
import type { WebhookLogger } from './deliver-webhook.use-case.js';

/** Due deliveries sent per sweep; the next sweep takes the rest. */
export const WEBHOOK_SWEEP_BATCH = 500;

const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The webhook outbox sweep (`reconcile.webhooks`): every pending delivery whose `next_attempt_at`
 * has come gets a `webhook.deliver` job. That covers jobs Redis lost, deliveries whose enqueue never
 * happened after commit, and retries: a failed attempt only moves `next_attempt_at` ahead by its
 * backoff, and this sweep sends the next attempt once it is due (so retries are as fine-grained as
 * the sweep interval).
 */
export class SweepWebhooksUseCase {
  constructor(
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly producer: JobProducer,
    private readonly logger: WebhookLogger,
    private readonly batch = WEBHOOK_SWEEP_BATCH,
  ) {}

  async execute(): Promise<{ due: number; enqueued: number }> {
    const dueIds = await this.deliveries.dueIds(this.batch);
    const queue = this.producer.queue('notifications');
    const jobs: JobItem[] = [];
    for (const deliveryId of dueIds) {
      const job: JobItem = { name: 'webhook.deliver', data: { deliveryId } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        if (LIVE_JOB_STATES.has(await existing.getState())) continue;
        // A finished job with this id would block the re-add, and the delivery is still due.
        await existing.remove().catch(() => undefined);
      }
      jobs.push(job);
    }
    if (jobs.length > 0) {
      await this.producer.enqueueMany(jobs);
      this.logger.debug(
        { due: dueIds.length, enqueued: jobs.length },
        'webhook reconciler swept due deliveries',
      );
    }
    return { due: dueIds.length, enqueued: jobs.length };
  }
}
