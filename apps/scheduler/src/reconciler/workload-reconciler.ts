import type { EndLostRunsUseCase } from '#application';
import type { PartitionRepository, WorkloadRepository } from '#persistence';
import { jobOptionsFor, type JobItem, type JobProducer } from '#queues';
import type { Logger } from '../logger.js';

export interface WorkloadReconcilerOptions {
  /** The periodic tick: a partition with queued work and no cycle for this long gets one. */
  intervalMs: number;
  /** An admitted attempt not dispatched after this long has its dispatch job sent again. */
  dispatchGraceMs: number;
  /** A dispatched attempt with no end report this long after its walltime is declared lost. */
  lostGraceMs: number;
  /** On clusters whose agent sends heartbeats, a run unconfirmed this long is lost (unset: not watched). */
  heartbeatTimeoutMs?: number | null;
  /** Rows per sweep and kind (the next sweep takes the rest). */
  batch?: number;
}

export interface WorkloadSweep {
  cycles: number;
  redispatched: number;
  lost: number;
}

const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The workload outbox sweep and the scheduler's periodic tick (`reconcile.workloads`). Everything it
 * does is derived from PostgreSQL, so a Redis that lost every job is made whole again:
 * - a cycle for every partition marked dirty, and for every partition with queued work whose last
 *   cycle is older than the interval (the tick: estimated starts move, windows open);
 * - the dispatch job again for admitted attempts still not dispatched after a grace;
 * - an end, as failed, for dispatched attempts whose walltime passed long ago with no end report
 *   (the cluster or its agent died), and for attempts on heartbeating clusters that no heartbeat
 *   confirmed within the timeout (the agent died or lost them): their GPUs and hold come back.
 */
export class WorkloadReconciler {
  private readonly batch: number;

  constructor(
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly lostRuns: EndLostRunsUseCase,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly options: WorkloadReconcilerOptions,
  ) {
    this.batch = options.batch ?? 1000;
  }

  async sweep(): Promise<WorkloadSweep> {
    const lost = await this.endLostRuns();
    const redispatched = await this.redispatch();
    const cycles = await this.tick();
    if (lost + redispatched > 0) {
      this.logger.info({ cycles, redispatched, lost }, 'workload reconciler swept');
    }
    return { cycles, redispatched, lost };
  }

  private async tick(): Promise<number> {
    const models = await this.partitions.modelsDueForCycle(this.options.intervalMs);
    // Coalesced: a cycle job already waiting for the partition absorbs these.
    await this.producer.enqueueMany(
      models.map((gpuModel) => ({ name: 'schedule.cycle' as const, data: { gpuModel } })),
    );
    return models.length;
  }

  private async redispatch(): Promise<number> {
    const rows = await this.workloads.undispatchedAttempts(this.options.dispatchGraceMs, this.batch);
    const queue = this.producer.queue('dispatch');
    const jobs: JobItem[] = [];
    for (const row of rows) {
      const job: JobItem = { name: 'dispatch.workload', data: { workloadId: row.id, attempt: row.attempt } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        if (LIVE_JOB_STATES.has(await existing.getState())) continue;
        // A finished job with this id would block the re-add, and the attempt is still not dispatched.
        await existing.remove().catch(() => undefined);
      }
      jobs.push(job);
    }
    if (jobs.length > 0) await this.producer.enqueueMany(jobs);
    return jobs.length;
  }

  private async endLostRuns(): Promise<number> {
    const ended = await this.lostRuns.execute({
      graceMs: this.options.lostGraceMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs ?? null,
      limit: this.batch,
    });
    const cancels: JobItem[] = [];
    for (const [gpuModel, stopped] of ended) {
      cancels.push(
        ...stopped.map((attempt) => ({
          name: 'dispatch.cancel' as const,
          data: { workloadId: attempt.workloadId, attempt: attempt.attempt, reason: attempt.reason },
        })),
      );
      if (stopped.length > 0) this.logger.warn({ gpuModel, workloads: stopped.length }, 'ended lost runs');
    }
    // The ends marked their partitions dirty: the tick below (same sweep) sends the cycles.
    if (cancels.length > 0) await this.producer.enqueueMany(cancels);
    return cancels.length;
  }
}
