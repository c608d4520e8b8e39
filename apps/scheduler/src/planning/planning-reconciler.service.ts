import type { ReservationMovesRepository, ReservationPlansRepository } from '#persistence';
import { jobOptionsFor, type JobItem, type JobProducer } from '#queues';
import type { Logger } from '../logger.js';

/** How often every waitlist is re-planned even when nothing announced a change (time alone moves offers). */
export const WAITLIST_REPLAN_INTERVAL_MS = 10 * 60_000;

const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The planning outbox sweep. Every plan still `pending` after a grace period gets its
 * `planning.plan` job again (Redis is transport: a restart or FLUSHALL loses jobs, never plans);
 * every GPU model with a reservation still on a down or draining node past its loss is re-planned
 * (the re-plan moves it; the node change's own job may have been lost); with `waitlists`, every GPU
 * model that has a waitlist is re-planned. Re-enqueueing a job that still runs is harmless: planning
 * is idempotent.
 */
export class PlanningReconciler {
  constructor(
    private readonly plans: ReservationPlansRepository,
    private readonly moves: ReservationMovesRepository,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly graceMs: number,
  ) {}

  async sweep(options: { waitlists?: boolean } = {}): Promise<{
    pending: number;
    requeued: number;
    replans: number;
    /** Models re-planned because a reservation still sits on a lost node. */
    capacityLoss: number;
  }> {
    const rows = await this.plans.pendingPlans(this.graceMs);
    const queue = this.producer.queue('planning');
    let requeued = 0;
    for (const row of rows) {
      const job: JobItem = { name: 'planning.plan', data: { allocationId: row.allocationId } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        if (LIVE_JOB_STATES.has(await existing.getState())) continue;
        // A finished job under this id would make the re-add a silent duplicate; the plan is still pending.
        await existing.remove().catch(() => undefined);
      }
      await this.producer.enqueue(job);
      requeued += 1;
    }
    const lossModels = await this.moves.modelsWithUnhandledLoss(new Date());
    const waitlisted = options.waitlists ? await this.plans.waitlistedModels() : [];
    const models = [...new Set([...waitlisted, ...lossModels])].sort();
    if (models.length > 0) {
      await this.producer.enqueueMany(
        models.map((gpuModel): JobItem => ({ name: 'planning.replan', data: { gpuModel } })),
      );
    }
    const replans = models.length;
    if (rows.length > 0 || replans > 0) {
      this.logger.info(
        { pending: rows.length, requeued, replans, capacityLoss: lossModels.length },
        'planning reconciler swept',
      );
    }
    return { pending: rows.length, requeued, replans, capacityLoss: lossModels.length };
  }
}
