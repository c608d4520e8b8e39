import type { DataSource } from 'typeorm';
import { jobOptionsFor, type JobItem, type JobProducer } from '#queues';
import type { Logger } from '../logger.js';

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
export class WebhookReconciler {
  constructor(
    private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly batch = WEBHOOK_SWEEP_BATCH,
  ) {}

  async sweep(): Promise<{ due: number; enqueued: number }> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
        ORDER BY next_attempt_at LIMIT $1`,
      [this.batch],
    );
    const queue = this.producer.queue('notifications');
    const jobs: JobItem[] = [];
    for (const row of rows) {
      const job: JobItem = { name: 'webhook.deliver', data: { deliveryId: row.id } };
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
        { due: rows.length, enqueued: jobs.length },
        'webhook reconciler swept due deliveries',
      );
    }
    return { due: rows.length, enqueued: jobs.length };
  }
}
