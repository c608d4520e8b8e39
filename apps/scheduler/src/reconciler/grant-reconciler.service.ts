import type { GrantRepository } from '#persistence';
import type { JobProducer } from '#queues';
import { jobOptionsFor } from '#queues';
import type { Logger } from '../logger.js';

/**
 * The outbox sweep: every grant intent still pending after a grace period is re-enqueued. Redis is
 * transport; when it loses a job (restart, FLUSHALL, failover) this puts it back from PostgreSQL.
 * Re-enqueueing a job that is still queued or running is harmless: the grant is idempotent.
 */
export class GrantReconciler {
  constructor(
    private readonly grants: GrantRepository,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly graceMs: number,
  ) {}

  async sweep(): Promise<{ pending: number; requeued: number }> {
    const requestIds = await this.grants.pendingRequestIds(this.graceMs);
    let requeued = 0;
    const queue = this.producer.queue('intake');
    for (const requestId of requestIds) {
      const job = { name: 'grant.allocation' as const, data: { requestId } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        const state = await existing.getState();
        if (
          state === 'waiting' ||
          state === 'active' ||
          state === 'delayed' ||
          state === 'prioritized' ||
          state === 'waiting-children'
        ) {
          continue;
        }
        // A finished job with this id would block the re-add; the intent is still pending, so run it again.
        await existing.remove().catch(() => undefined);
      }
      await this.producer.enqueue(job);
      requeued += 1;
    }
    if (requestIds.length > 0) {
      await this.grants.markEnqueued(requestIds);
      this.logger.info({ pending: requestIds.length, requeued }, 'grant reconciler swept pending intents');
    }
    return { pending: requestIds.length, requeued };
  }
}
