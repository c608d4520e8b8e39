import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { DataSource } from 'typeorm';
import {
  createDataSource,
  lockPartition,
  markPartitionDirty,
  WorkloadEntity,
} from '../../libs/persistence/src/index.js';
import { METERING_GRACE_MS } from '../../libs/domain/src/index.js';
import { releaseStaleHolds, storeUsageBatch } from '../support/usage-pipeline.js';
import { JobProducer, QueueTransport, type JobItem } from '../../libs/queues/src/index.js';
import { createTestDatabase } from '../support/database.js';
import { workloadUseCases } from '../support/workload-use-cases.js';
import {
  startSchedulerProcess,
  startThrowawayRedis,
  stopProcess,
  waitForProgress,
} from '../support/processes.js';
import {
  poolFacts,
  seedPool,
  seedQuotas,
  submitWorkloads,
  type PoolFixture,
  type QuotaFixture,
  type WorkloadSpec,
} from '../factories/pool-fixtures.js';

const GPU_MODEL = 'H200';
const WORKLOADS = 2_000;
const SIZES = [1, 1, 2, 2, 3, 4, 4, 6, 8, 8, 16];
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'preempted'];
/**
 * The run is a fixed amount of work: ~65 s alone on 2 cores, 300–400 s when the integration tier
 * runs the usage load suite beside it on a loaded machine. So the waits fail on a hung scheduler
 * (no workload done for STALL_MS), never on a slow machine; the test's own timeout is only a last
 * resort (bench:scheduler measures speed).
 */
const STALL_MS = 90_000;
const TEST_BUDGET_MS = 1_800_000;

/**
 * Three scheduler processes on one PostgreSQL and one (throwaway) Redis admit 2,000 workloads on a
 * 64-node pool while a fake cluster in this test runs and ends them, ~5% are cancelled and nodes
 * drain. Sampled every 100 ms and checked at the end: no node over-booked and placements always
 * add up (invariant 3), no allocation ever over-held (invariant 2), one hold per admission attempt,
 * every workload terminal (invariant 5), every ledger transaction balanced (invariant 1).
 */
describe('scheduler: 3 processes, 2,000 workloads, cancels and drains', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  /** The sampler's own connection: the fake cluster's ends queue on the partition lock in `dataSource`. */
  let samplerSource: DataSource;
  let redis: Awaited<ReturnType<typeof startThrowawayRedis>>;
  let transport: QueueTransport;
  let producer: JobProducer;
  let cluster: Worker | undefined;
  const children: ChildProcess[] = [];
  const prefix = `s${randomBytes(3).toString('hex')}`;
  /** Cycle triggers sent (submissions, cancels, drains, ends): compared with the cycles that ran. */
  let triggers = 0;

  beforeAll(async () => {
    database = await createTestDatabase('scheduler_multi');
    dataSource = createDataSource({ url: database.url, poolSize: 12, applicationName: 'scheduler-test' });
    await dataSource.initialize();
    samplerSource = createDataSource({
      url: database.url,
      poolSize: 1,
      applicationName: 'scheduler-sampler',
    });
    await samplerSource.initialize();
    redis = await startThrowawayRedis();
    transport = new QueueTransport({
      backend: 'redis',
      redisUrl: redis.url,
      databaseUrl: database.url,
      prefix,
    });
    producer = new JobProducer(transport);
  });

  afterAll(async () => {
    await Promise.all(children.map((child) => stopProcess(child)));
    await cluster?.close();
    await producer?.close();
    await transport?.close();
    await redis?.stop();
    await samplerSource?.destroy();
    await dataSource?.destroy();
    await database?.drop();
  });

  function randomSpec(quotas: QuotaFixture[], name: string): WorkloadSpec {
    return {
      quota: quotas[randomInt(quotas.length)] ?? quotas[0],
      gpus: SIZES[randomInt(SIZES.length)] ?? 1,
      walltimeSeconds: 60 + randomInt(540),
      simulatedRuntimeSeconds: 1 + randomInt(5),
      priorityTier: randomInt(3),
      name,
    };
  }

  /** A bulk submission (a sweep) the way the API writes it: rows + dirty mark, then one cycle job. */
  async function submitBulk(quotas: QuotaFixture[], count: number, offset: number): Promise<string[]> {
    const specs = Array.from({ length: count }, (_, index) => randomSpec(quotas, `w-${offset + index}`));
    const ids = await submitWorkloads(dataSource, GPU_MODEL, specs);
    triggers += 1;
    await producer.enqueue({ name: 'schedule.cycle', data: { gpuModel: GPU_MODEL } });
    return ids;
  }

  /** Single submissions, 16 at a time, each its own transaction and its own cycle trigger. */
  async function submitSingles(quotas: QuotaFixture[], count: number): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          const index = next;
          next += 1;
          ids.push(...(await submitWorkloads(dataSource, GPU_MODEL, [randomSpec(quotas, `s-${index}`)])));
          triggers += 1;
          await producer.enqueue({ name: 'schedule.cycle', data: { gpuModel: GPU_MODEL } });
        }
      }),
    );
    return ids;
  }

  async function partitionCycles(): Promise<number> {
    const [row] = await dataSource.query<{ cycles: string }[]>(
      'SELECT cycles::text AS cycles FROM scheduling_partitions WHERE gpu_model = $1',
      [GPU_MODEL],
    );
    return Number(row?.cycles ?? 0);
  }

  /** Cancel as the API does: under the partition lock; queued rows just end, others release and settle. */
  async function cancel(workloadId: string): Promise<boolean> {
    const jobs: JobItem[] = [];
    const changed = await dataSource.transaction(async (manager) => {
      await lockPartition(manager, GPU_MODEL);
      const workload = await manager.getRepository(WorkloadEntity).findOneBy({ id: workloadId });
      if (!workload || TERMINAL.includes(workload.state)) return false;
      if (workload.state === 'queued') {
        await manager.getRepository(WorkloadEntity).update(workload.id, {
          state: 'cancelled',
          endReason: 'cancelled by user',
          endedAt: new Date(),
          waitReason: null,
          waitDetail: null,
          queuePosition: null,
          estimatedStartAt: null,
        });
        await markPartitionDirty(manager, GPU_MODEL);
        return true;
      }
      await workloadUseCases(dataSource).endAttempt.endWorkload(manager, workload, {
        state: 'cancelled',
        reason: 'cancelled by user',
        runtimeSeconds: null,
        at: new Date(),
      });
      jobs.push({
        name: 'dispatch.cancel',
        data: { workloadId, attempt: workload.attempt, reason: 'cancelled by user' },
      });
      return true;
    });
    jobs.push({ name: 'schedule.cycle', data: { gpuModel: GPU_MODEL } });
    triggers += 1;
    await producer.enqueueMany(jobs);
    return changed;
  }

  /** The fake cluster: runs each attempt for a few ms, then reports start and end like the agent API. */
  function startFakeCluster(stats: { runs: number; ended: number; stale: number; cancels: number }): Worker {
    const worker = new Worker(
      'cluster-simulator',
      async (job: Job) => {
        if (job.name === 'cluster.cancel') {
          stats.cancels += 1;
          return;
        }
        const data = job.data as {
          workloadId: string;
          attempt: number;
          runtimeSeconds: number;
          allocationId: string;
          gpus: number;
        };
        stats.runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 10 + randomInt(120)));
        // Like the agent: the attempt's usage record first (posted by the schedulers' usage.post
        // workers), then its end. A stale attempt's record is metered too: usage is a fact.
        const meteredAt = new Date();
        const stored = await storeUsageBatch(dataSource, null, [
          {
            source: 'fake-cluster',
            externalId: `${data.workloadId}:${data.attempt}`,
            allocationId: data.allocationId,
            workloadId: data.workloadId,
            attempt: data.attempt,
            gpuModel: GPU_MODEL,
            gpus: data.gpus,
            startedAt: meteredAt,
            endedAt: new Date(meteredAt.getTime() + data.runtimeSeconds * 1000),
            gpuSeconds: BigInt(data.gpus) * BigInt(data.runtimeSeconds),
            late: false,
          },
        ]);
        if (stored.batchId) await producer.enqueue({ name: 'usage.post', data: { batchId: stored.batchId } });
        const ended = await dataSource.transaction(async (manager) => {
          await lockPartition(manager, GPU_MODEL);
          const workload = await manager.getRepository(WorkloadEntity).findOneBy({ id: data.workloadId });
          if (
            !workload ||
            workload.attempt !== data.attempt ||
            (workload.state !== 'admitted' && workload.state !== 'running')
          ) {
            return false;
          }
          if (workload.state === 'admitted') {
            const startedAt = new Date();
            await manager.getRepository(WorkloadEntity).update(workload.id, { state: 'running', startedAt });
            workload.state = 'running';
            workload.startedAt = startedAt;
          }
          return workloadUseCases(dataSource).endAttempt.endWorkload(manager, workload, {
            state: 'succeeded',
            reason: 'completed',
            runtimeSeconds: data.runtimeSeconds,
            at: new Date(),
          });
        });
        if (ended) stats.ended += 1;
        else stats.stale += 1;
        triggers += 1;
        await producer.enqueue({ name: 'schedule.cycle', data: { gpuModel: GPU_MODEL } });
      },
      { connection: { url: redis.url, maxRetriesPerRequest: null }, prefix, concurrency: 64, autorun: false },
    );
    worker.on('error', () => undefined);
    return worker;
  }

  it(
    'keeps invariants 1, 2, 3 and 5 and ends every workload',
    async () => {
      // The schedulers boot while the pool and quotas are seeded.
      const env = {
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        QUEUE_BACKEND: 'redis',
        QUEUE_PREFIX: prefix,
        DATABASE_POOL_SIZE: '6',
        RECONCILE_INTERVAL_MS: '500',
        RECONCILE_GRACE_MS: '3000',
        WORKER_LOCK_DURATION_MS: '10000',
        WORKER_STALLED_INTERVAL_MS: '5000',
      };
      for (let index = 0; index < 3; index += 1) children.push(startSchedulerProcess(env));
      const pool: PoolFixture = await seedPool(dataSource, {
        gpuModel: GPU_MODEL,
        nodes: 64,
        gpusPerNode: 8,
        domains: 2,
      });
      // Three roomy allocations and a tight one (10 GPU-hours, 64 concurrent GPUs): it keeps
      // running into its quota and its cap.
      const quotas = await seedQuotas(dataSource, GPU_MODEL, [
        { grantedGpuHours: 1_000n, maxConcurrentGpus: 512 },
        { grantedGpuHours: 1_000n, maxConcurrentGpus: 256 },
        { grantedGpuHours: 1_000n, maxConcurrentGpus: 256 },
        { grantedGpuHours: 10n, maxConcurrentGpus: 64 },
      ]);
      const allocationIds = quotas.map((quota) => quota.allocationId);
      const clusterStats = { runs: 0, ended: 0, stale: 0, cancels: 0 };
      const fakeCluster = startFakeCluster(clusterStats);
      cluster = fakeCluster;

      // Sample the invariants every 100 ms while everything runs.
      const violations: unknown[] = [];
      let samples = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const facts = await poolFacts(samplerSource, GPU_MODEL, allocationIds);
          samples += 1;
          if (process.env.SCHEDULER_TEST_PROGRESS && samples % 20 === 0) {
            const progress = await dataSource.query<{ state: string; n: number }[]>(
              `SELECT state || coalesce('/' || wait_reason, '') AS state, count(*)::int AS n FROM workloads GROUP BY 1 ORDER BY 1`,
            );
            const [partition] = await dataSource.query<unknown[]>('SELECT * FROM scheduling_partitions');
            const failed = (await producer.queue('scheduling').getJobs(['failed', 'delayed'], 0, 2)).map(
              (job) => job.stacktrace,
            );
            const failedDispatch = (await producer.queue('dispatch').getFailed(0, 2)).map(
              (job) => job.failedReason,
            );
            const counts = await producer.queue('scheduling').getJobCounts();
            const activity = await dataSource.query(
              `SELECT state, wait_event, left(query, 100) AS query, (now() - xact_start)::text AS age FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'gpupool-scheduler' AND state <> 'idle'`,
            );
            process.stdout.write(
              `${JSON.stringify({ progress, partition, facts, clusterStats, failed, failedDispatch, counts, activity })}\n`,
            );
          }
          if (
            facts.overbooked + facts.mismatched + facts.stray_placements + facts.negative_holds > 0 ||
            facts.negative_allocations > 0
          ) {
            violations.push({ at: Date.now(), ...facts });
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();

      // Burst 1: 1,000 single submissions (each its own trigger) while the cluster is paused, so the
      // only cycle triggers are the submissions: how many cycles do they make?
      const started = Date.now();
      const cyclesBefore = await partitionCycles();
      const singles = await submitSingles(quotas, WORKLOADS / 2);
      await waitForProgress(
        'the burst to be scheduled',
        async () => {
          const [row] = await dataSource.query<{ open: number; dirty: boolean }[]>(
            `SELECT (SELECT count(*) FROM workloads WHERE state = 'queued' AND wait_reason IS NULL)::int AS open,
                EXISTS (SELECT 1 FROM partition_triggers WHERE gpu_model = $1) AS dirty`,
            [GPU_MODEL],
          );
          // A dirty mark left over counts as one thing still to do.
          return (row?.open ?? 1) + (row?.dirty ? 1 : 0);
        },
        STALL_MS,
      );
      const burstCycles = (await partitionCycles()) - cyclesBefore;
      const burstMs = Date.now() - started;
      void fakeCluster.run();

      // ~5% of each burst cancelled at random moments while the pool is busy.
      const cancellations: Promise<number>[] = [];
      const cancelSome = (ids: string[]): void => {
        const chosen = ids.filter(() => randomInt(100) < 5);
        cancellations.push(
          (async () => {
            let cancelled = 0;
            for (const id of chosen) {
              await new Promise((resolve) => setTimeout(resolve, randomInt(40)));
              if (await cancel(id)) cancelled += 1;
            }
            return cancelled;
          })(),
        );
      };
      cancelSome(singles);
      // Bursts 2–5: bulk submissions (sweeps) of 250, while burst 1 runs.
      for (let burst = 0; burst < 4; burst += 1) {
        cancelSome(await submitBulk(quotas, WORKLOADS / 8, burst * (WORKLOADS / 8)));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const submittedMs = Date.now() - started;

      await new Promise((resolve) => setTimeout(resolve, 500));
      const drained = pool.nodeIds.filter((_, index) => index % 16 === 5);
      await dataSource.transaction(async (manager) => {
        await manager.query(
          `UPDATE nodes SET state = 'draining', state_reason = 'maintenance', updated_at = now() WHERE id = ANY($1)`,
          [drained],
        );
        await markPartitionDirty(manager, GPU_MODEL);
      });
      triggers += 1;
      await producer.enqueue({ name: 'schedule.cycle', data: { gpuModel: GPU_MODEL } });
      const cancelled = (await Promise.all(cancellations)).reduce((sum, count) => sum + count, 0);

      await waitForProgress(
        'every workload to reach a terminal state',
        async () => {
          const [row] = await dataSource.query<{ open: number }[]>(
            `SELECT count(*)::int AS open FROM workloads WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'preempted')`,
          );
          return row?.open ?? 1;
        },
        STALL_MS,
      );
      const finishedMs = Date.now() - started;
      await waitForProgress(
        'every usage batch to be posted',
        async () => {
          const [row] = await dataSource.query<{ open: number }[]>(
            'SELECT count(*)::int AS open FROM usage_batches WHERE posted_at IS NULL',
          );
          return row?.open ?? 1;
        },
        STALL_MS,
      );
      // Cancelled runs send no usage: what their runtime kept held goes back after the metering grace.
      await releaseStaleHolds(dataSource, new Date(Date.now() + 2 * METERING_GRACE_MS), 100_000);
      sampling = false;
      await sampler;

      // Invariant 3 (and 2) at every sample.
      expect(violations).toEqual([]);
      expect(samples).toBeGreaterThan(10);

      // At the end: nothing placed, nothing held, nothing over-booked.
      expect(await poolFacts(dataSource, GPU_MODEL, allocationIds)).toEqual({
        overbooked: 0,
        mismatched: 0,
        allocated: 0,
        stray_placements: 0,
        negative_holds: 0,
        negative_allocations: 0,
      });

      // Invariant 5: all 2,000 terminal; the cancelled ones as cancelled, the rest succeeded.
      const states = await dataSource.query<{ state: string; n: number }[]>(
        'SELECT state, count(*)::int AS n FROM workloads GROUP BY state ORDER BY state',
      );
      const byState = Object.fromEntries(states.map((row) => [row.state, row.n]));
      expect((byState.succeeded ?? 0) + (byState.cancelled ?? 0)).toBe(WORKLOADS);
      expect(byState.cancelled ?? 0).toBe(cancelled);

      // One hold per admission attempt, each closed once; usage posted exactly once per record; holds
      // all back to zero; ledger balanced.
      const [ledger] = await dataSource.query<
        {
          holds: number;
          hold_keys: number;
          hold_rows: number;
          closed_holds: number;
          open_holds: number;
          bad_attempts: number;
          unbalanced: number;
          consumed_mismatch: number;
          usage_drift: number;
        }[]
      >(
        `SELECT
         (SELECT count(*) FROM ledger_transactions WHERE kind = 'hold')::int AS holds,
         (SELECT count(DISTINCT idempotency_key) FROM ledger_transactions WHERE kind = 'hold')::int AS hold_keys,
         (SELECT count(*) FROM workload_holds)::int AS hold_rows,
         (SELECT count(*) FROM workload_holds WHERE ended_at IS NOT NULL)::int AS closed_holds,
         (SELECT count(*) FROM (SELECT account FROM ledger_entries WHERE account LIKE 'hold:%'
            GROUP BY account HAVING sum(amount) <> 0) x)::int AS open_holds,
         (SELECT count(*) FROM ledger_transactions t
            JOIN workloads w ON w.id = split_part(t.idempotency_key, ':', 2)::uuid
            WHERE t.kind = 'hold' AND split_part(t.idempotency_key, ':', 3)::int > w.attempt)::int AS bad_attempts,
         (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
            HAVING sum(amount) <> 0) x)::int AS unbalanced,
         (SELECT count(*) FROM workloads w LEFT JOIN (
            SELECT workload_id, sum(gpu_seconds) AS used FROM usage_records GROUP BY 1) c ON c.workload_id = w.id
            WHERE w.consumed_gpu_seconds <> coalesce(c.used, 0))::int AS consumed_mismatch,
         ((SELECT coalesce(sum(gpu_seconds), 0) FROM usage_records)
           - (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
               WHERE t.idempotency_key LIKE 'usage:%' AND e.account LIKE 'consumed:%'))::int AS usage_drift`,
      );
      expect(ledger).toMatchObject({
        hold_keys: ledger?.holds,
        hold_rows: ledger?.holds,
        closed_holds: ledger?.holds,
        open_holds: 0,
        bad_attempts: 0,
        unbalanced: 0,
        consumed_mismatch: 0,
        usage_drift: 0,
      });
      expect(ledger?.holds).toBeGreaterThanOrEqual(WORKLOADS - cancelled);

      const [partition] = await dataSource.query<{ cycles: string; last_cycle_ms: number }[]>(
        'SELECT cycles::text AS cycles, last_cycle_ms FROM scheduling_partitions WHERE gpu_model = $1',
        [GPU_MODEL],
      );
      const [preempted] = await dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM ledger_transactions t WHERE t.kind = 'hold'
       AND split_part(t.idempotency_key, ':', 3)::int > 0`,
      );
      process.stdout.write(
        `${JSON.stringify({
          scheduler: 'multi',
          workloads: WORKLOADS,
          submittedMs,
          finishedMs,
          burst: { singleSubmissions: WORKLOADS / 2, cycles: burstCycles, ms: burstMs },
          cycles: Number(partition?.cycles ?? 0),
          triggers,
          lastCycleMs: partition?.last_cycle_ms,
          holds: ledger?.holds,
          readmittedAfterPreemption: preempted?.n,
          cancelled,
          drainedNodes: drained.length,
          samples,
          cluster: clusterStats,
          states: byState,
        })}\n`,
      );
    },
    TEST_BUDGET_MS,
  );
});
