import { In, type DataSource } from 'typeorm';
import { endWorkload, lockPartition, WorkloadEntity } from '#persistence';
import { jobOptionsFor, type JobItem, type JobProducer } from '#queues';
import type { Logger } from '../logger.js';

export interface WorkloadReconcilerOptions {
  /** The periodic tick: a partition with queued work and no cycle for this long gets one. */
  intervalMs: number;
  /** An admitted attempt not dispatched after this long has its dispatch job sent again. */
  dispatchGraceMs: number;
  /** A dispatched attempt with no end report this long after its walltime is declared lost. */
  lostGraceMs: number;
  /** Rows per sweep and kind (the next sweep takes the rest). */
  batch?: number;
}

export interface WorkloadSweep {
  cycles: number;
  redispatched: number;
  lost: number;
}

/** Lost runs end with this reason (their usage refunded: the infrastructure lost them). */
export const LOST_RUN_REASON = 'lost: no end report within walltime';

const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The workload outbox sweep and the scheduler's periodic tick (`reconcile.workloads`). Everything it
 * does is derived from PostgreSQL, so a Redis that lost every job is made whole again:
 * - a cycle for every partition marked dirty, and for every partition with queued work whose last
 *   cycle is older than the interval (the tick: estimated starts move, windows open);
 * - the dispatch job again for admitted attempts still not dispatched after a grace;
 * - an end, as failed, for dispatched attempts whose walltime passed long ago with no end report
 *   (the cluster or its agent died): their GPUs and hold come back.
 */
export class WorkloadReconciler {
  private readonly batch: number;

  constructor(
    private readonly dataSource: DataSource,
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
    const rows = await this.dataSource.query<{ gpu_model: string }[]>(
      `SELECT DISTINCT gpu_model FROM partition_triggers
       UNION
       SELECT m.gpu_model FROM (SELECT DISTINCT gpu_model FROM node_pools) m
       LEFT JOIN scheduling_partitions p ON p.gpu_model = m.gpu_model
       WHERE (p.last_cycle_at IS NULL OR p.last_cycle_at < now() - $1::int * interval '1 millisecond')
         AND EXISTS (SELECT 1 FROM workloads w WHERE w.gpu_model = m.gpu_model AND w.state = 'queued')`,
      [this.options.intervalMs],
    );
    // Coalesced: a cycle job already waiting for the partition absorbs these.
    await this.producer.enqueueMany(
      rows.map((row) => ({ name: 'schedule.cycle' as const, data: { gpuModel: row.gpu_model } })),
    );
    return rows.length;
  }

  private async redispatch(): Promise<number> {
    const rows = await this.dataSource.query<{ id: string; attempt: number }[]>(
      `SELECT id, attempt FROM workloads
       WHERE state = 'admitted' AND dispatched_at IS NULL
         AND admitted_at < now() - $1::int * interval '1 millisecond'
       ORDER BY admitted_at LIMIT $2`,
      [this.options.dispatchGraceMs, this.batch],
    );
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
    const candidates = await this.dataSource.query<{ id: string; gpu_model: string }[]>(
      `SELECT id, gpu_model FROM workloads
       WHERE state IN ('admitted', 'running') AND dispatched_at IS NOT NULL
         AND coalesce(started_at, dispatched_at) + walltime_seconds * interval '1 second'
             < now() - $1::int * interval '1 millisecond'
       ORDER BY gpu_model, id LIMIT $2`,
      [this.options.lostGraceMs, this.batch],
    );
    if (candidates.length === 0) return 0;
    const byModel = new Map<string, string[]>();
    for (const row of candidates) byModel.set(row.gpu_model, [...(byModel.get(row.gpu_model) ?? []), row.id]);

    const cancels: JobItem[] = [];
    for (const [gpuModel, ids] of byModel) {
      const ended = await this.dataSource.transaction('READ COMMITTED', async (manager) => {
        await lockPartition(manager, gpuModel);
        const [clock] = await manager.query<{ now: Date }[]>('SELECT clock_timestamp() AS now');
        const at = clock?.now ?? new Date();
        // Re-read under the lock: an end report may have landed since the candidates were read.
        const workloads = (await manager.getRepository(WorkloadEntity).findBy({ id: In(ids) })).filter(
          (workload) => {
            const since = workload.startedAt ?? workload.dispatchedAt;
            return (
              (workload.state === 'admitted' || workload.state === 'running') &&
              since !== null &&
              since.getTime() + workload.walltimeSeconds * 1000 < at.getTime() - this.options.lostGraceMs
            );
          },
        );
        const done: JobItem[] = [];
        for (const workload of workloads) {
          // Whatever the cluster meters for it is refunded: the run was lost by the infrastructure.
          // The hold covering the time it may have run (never beyond its walltime) waits for that meter.
          const ranSeconds = workload.startedAt
            ? Math.min(
                workload.walltimeSeconds,
                Math.max(0, Math.floor((at.getTime() - workload.startedAt.getTime()) / 1000)),
              )
            : 0;
          const changed = await endWorkload(manager, workload, {
            state: 'failed',
            reason: LOST_RUN_REASON,
            runtimeSeconds: ranSeconds,
            at,
            refundReason: LOST_RUN_REASON,
          });
          if (changed) {
            done.push({
              name: 'dispatch.cancel',
              data: { workloadId: workload.id, attempt: workload.attempt, reason: LOST_RUN_REASON },
            });
          }
        }
        return done;
      });
      cancels.push(...ended);
      if (ended.length > 0) {
        this.logger.warn({ gpuModel, workloads: ended.length }, 'ended lost runs');
      }
    }
    // The ends marked their partitions dirty: the tick below (same sweep) sends the cycles.
    if (cancels.length > 0) await this.producer.enqueueMany(cancels);
    return cancels.length;
  }
}
