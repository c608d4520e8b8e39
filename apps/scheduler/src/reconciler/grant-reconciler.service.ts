import type { DataSource } from 'typeorm';
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
    private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly graceMs: number,
  ) {}

  async sweep(): Promise<{ pending: number; requeued: number }> {
    const rows = await this.dataSource.query<{ request_id: string }[]>(
      `SELECT request_id FROM grant_intents WHERE status = 'pending' AND created_at < now() - ($1::int * interval '1 millisecond')
       ORDER BY created_at LIMIT 1000`,
      [this.graceMs],
    );
    let requeued = 0;
    const queue = this.producer.queue('intake');
    for (const row of rows) {
      const job = { name: 'grant.allocation' as const, data: { requestId: row.request_id } };
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
    if (rows.length > 0) {
      await this.dataSource.query(
        `UPDATE grant_intents SET enqueued_at = now() WHERE request_id = ANY($1) AND status = 'pending'`,
        [rows.map((row) => row.request_id)],
      );
      this.logger.info({ pending: rows.length, requeued }, 'grant reconciler swept pending intents');
    }
    return { pending: rows.length, requeued };
  }
}
