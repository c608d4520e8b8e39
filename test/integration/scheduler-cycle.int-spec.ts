import pino from 'pino';
import type { DataSource } from 'typeorm';
import { ClusterAdapter, LOST_RUN_REASON, type DispatchRequest } from '../../libs/application/src/index.js';
import { runSchedulingCycle } from '../../libs/domain/src/index.js';
import {
  createDataSource,
  lockPartition,
  LedgerRepository,
  PartitionSnapshotRepository,
  SchedulingCycleRepository,
  TypeormTransactionRunner,
} from '../../libs/persistence/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { CycleService, type CycleStats } from '../../apps/scheduler/src/cycle/cycle.service.js';
import { DispatchService } from '../../apps/scheduler/src/dispatch/dispatch.service.js';
import { WorkloadReconciler } from '../../apps/scheduler/src/reconciler/workload-reconciler.js';
import { createTestDatabase } from '../support/database.js';
import { workloadUseCases } from '../support/workload-use-cases.js';
import {
  poolFacts,
  seedPool,
  seedQuotas,
  submitWorkloads,
  type QuotaFixture,
} from '../factories/pool-fixtures.js';
import { RecordingProducer } from '../support/recording-producer.js';

const GPU_MODEL = 'B200';
const logger = pino({ level: 'silent' });

class RecordingAdapter extends ClusterAdapter {
  readonly kind = 'simulator';
  readonly dispatched: DispatchRequest[] = [];
  readonly cancelled: { workloadId: string; attempt: number }[] = [];
  dispatch(workload: DispatchRequest): Promise<void> {
    this.dispatched.push(workload);
    return Promise.resolve();
  }
  cancel(workloadId: string, attempt: number): Promise<void> {
    this.cancelled.push({ workloadId, attempt });
    return Promise.resolve();
  }
}

/**
 * The scheduler's persistence around the pure cycle, in process against a real PostgreSQL: what one
 * cycle writes, the partition lock and dirty flag, dispatch idempotency, and the reconciler.
 */
describe('scheduling cycle persistence (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let producer: RecordingProducer;
  let cycles: CycleService;
  let quotas: QuotaFixture[];

  beforeAll(async () => {
    database = await createTestDatabase('scheduler_cycle');
    dataSource = createDataSource({
      url: database.url,
      poolSize: 6,
      applicationName: 'scheduler-cycle-test',
    });
    await dataSource.initialize();
    producer = new RecordingProducer();
    cycles = new CycleService(
      new TypeormTransactionRunner(dataSource),
      new SchedulingCycleRepository(dataSource),
      new PartitionSnapshotRepository(),
      new LedgerRepository(),
      producer as unknown as JobProducer,
      logger,
      runSchedulingCycle,
      {
        settings: {
          fairShareHalfLifeSeconds: 7 * 86_400,
          backfill: true,
          preemption: true,
          estimateLimit: 1000,
        },
        maxRounds: 3,
        lockWaitMs: 200,
      },
      workloadUseCases(dataSource).endAttempt,
    );
    await seedPool(dataSource, { gpuModel: GPU_MODEL, nodes: 64, gpusPerNode: 8, domains: 2 });
    quotas = await seedQuotas(dataSource, GPU_MODEL, [
      { grantedGpuHours: 1_000n, maxConcurrentGpus: 512 },
      { grantedGpuHours: 1_000n, maxConcurrentGpus: 512 },
      // Room for two 8-GPU × 1 h holds only.
      { grantedGpuHours: 16n, maxConcurrentGpus: 512 },
    ]);
  });
  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('admits, places, holds and explains in one transaction per cycle', async () => {
    const sizes = [1, 2, 4, 8, 16];
    const ids = await submitWorkloads(
      dataSource,
      GPU_MODEL,
      Array.from({ length: 2_000 }, (_, index) => ({
        quota: quotas[index % 3],
        gpus: sizes[index % sizes.length] ?? 1,
        walltimeSeconds: 3600,
        simulatedRuntimeSeconds: 5,
        name: `c-${index}`,
      })),
    );
    const result = await cycles.runCycle(GPU_MODEL);
    expect(result.outcome).toBe('ran');
    const stats = result as CycleStats;
    process.stdout.write(`${JSON.stringify({ cycle: 'first, 2000 queued', ...stats })}\n`);
    expect(stats.rounds).toBe(1);
    expect(stats.admitted).toBeGreaterThan(0);
    expect(stats.admitted + stats.waiting).toBe(ids.length);

    const [facts] = await dataSource.query<
      {
        admitted: number;
        admitted_gpus: number;
        placed_gpus: number;
        holds: number;
        held: string;
        explained: number;
        positioned: number;
        deepest_position: number;
        queued: number;
        dirty: boolean;
        cycles: number;
      }[]
    >(
      `SELECT
         (SELECT count(*) FROM workloads WHERE state = 'admitted')::int AS admitted,
         (SELECT coalesce(sum(gpus), 0) FROM workloads WHERE state = 'admitted')::int AS admitted_gpus,
         (SELECT coalesce(sum(gpus), 0) FROM workload_placements)::int AS placed_gpus,
         (SELECT count(*) FROM ledger_transactions WHERE kind = 'hold')::int AS holds,
         (SELECT coalesce(sum(held_gpu_seconds), 0)::text FROM workloads WHERE state = 'admitted') AS held,
         (SELECT count(*) FROM workloads WHERE state = 'queued' AND wait_reason IS NOT NULL
            AND wait_detail IS NOT NULL)::int AS explained,
         (SELECT count(*) FROM workloads WHERE state = 'queued' AND queue_position IS NOT NULL)::int AS positioned,
         (SELECT max(queue_position) FROM workloads WHERE state = 'queued')::int AS deepest_position,
         (SELECT count(*) FROM workloads WHERE state = 'queued')::int AS queued,
         EXISTS (SELECT 1 FROM partition_triggers WHERE gpu_model = $1) AS dirty,
         (SELECT cycles FROM scheduling_partitions WHERE gpu_model = $1)::int AS cycles`,
      [GPU_MODEL],
    );
    expect(facts).toMatchObject({
      admitted: stats.admitted,
      holds: stats.admitted,
      explained: stats.waiting,
      queued: stats.waiting,
      dirty: false,
      cycles: 1,
    });
    expect(facts?.placed_gpus).toBe(facts?.admitted_gpus);
    // Every queued workload says why it waits; positions are kept for the first 1,000 only, so a
    // cycle never rewrites the whole deep queue.
    expect(facts?.positioned).toBe(Math.min(1000, stats.waiting));
    expect(facts?.deepest_position).toBe(Math.min(1000, stats.waiting));
    const pool = await poolFacts(dataSource, GPU_MODEL);
    expect(pool).toMatchObject({ overbooked: 0, mismatched: 0, negative_allocations: 0, negative_holds: 0 });
    expect(pool.allocated).toBe(facts?.admitted_gpus);
    // The held GPU-seconds are exactly what left the allocations.
    const [ledger] = await dataSource.query<{ held: string }[]>(
      `SELECT coalesce(sum(amount), 0)::text AS held FROM ledger_entries WHERE account LIKE 'hold:%'`,
    );
    expect(ledger?.held).toBe(facts?.held);
    // One dispatch job per admission, sent after the commit.
    const dispatches = producer.take('dispatch.workload');
    expect(dispatches).toHaveLength(stats.admitted);
    // The tight allocation admitted at most its quota and explains why the rest wait.
    const [tight] = await dataSource.query<{ waiting_quota: number }[]>(
      `SELECT count(*)::int AS waiting_quota FROM workloads WHERE allocation_id = $1 AND wait_reason = 'quota'`,
      [quotas[2]?.allocationId],
    );
    expect(tight?.waiting_quota).toBeGreaterThan(0);

    // Nothing changed: a second cycle admits nothing and clears nothing it should not.
    const again = (await cycles.runCycle(GPU_MODEL)) as CycleStats;
    process.stdout.write(`${JSON.stringify({ cycle: 'second, nothing changed', ...again })}\n`);
    expect(again.admitted).toBe(0);
    expect(producer.take('dispatch.workload')).toHaveLength(0);
  });

  it('waits a bounded time for the partition lock, then gives up as busy', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = dataSource.transaction(async (manager) => {
      await lockPartition(manager, GPU_MODEL);
      locked();
      await held;
    });
    await isLocked;
    await expect(cycles.runCycle(GPU_MODEL)).resolves.toEqual({ outcome: 'busy' });
    release();
    await holder;
    await expect(cycles.runCycle(GPU_MODEL)).resolves.toMatchObject({ outcome: 'ran' });
  });

  it('runs again while the partition is dirtied after a round starts, then leaves it for the tick', async () => {
    // Every round consumes the partition's triggers; this test trigger puts one back each time, as
    // a stream of submissions arriving during the rounds would.
    await dataSource.query(`
      CREATE FUNCTION keep_partition_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO partition_triggers (gpu_model) VALUES (OLD.gpu_model); RETURN NULL; END $$`);
    await dataSource.query(
      'CREATE TRIGGER keep_dirty AFTER DELETE ON partition_triggers FOR EACH ROW EXECUTE FUNCTION keep_partition_dirty()',
    );
    await dataSource.query('INSERT INTO partition_triggers (gpu_model) VALUES ($1)', [GPU_MODEL]);
    const stats = (await cycles.runCycle(GPU_MODEL)) as CycleStats;
    expect(stats).toMatchObject({ outcome: 'ran', rounds: 3, leftDirty: true });
    await dataSource.query('DROP TRIGGER keep_dirty ON partition_triggers');
    await dataSource.query('DROP FUNCTION keep_partition_dirty()');
    expect(await cycles.runCycle(GPU_MODEL)).toMatchObject({ rounds: 1, leftDirty: false });
  });

  it('dispatches an admitted attempt once, whatever is redelivered', async () => {
    const adapter = new RecordingAdapter();
    const dispatcher = new DispatchService(workloadUseCases(dataSource, [adapter]).dispatch, logger);
    const [row] = await dataSource.query<{ id: string; attempt: number; gpus: number }[]>(
      `SELECT id, attempt, gpus FROM workloads WHERE state = 'admitted' AND dispatched_at IS NULL
       ORDER BY gpus DESC LIMIT 1`,
    );
    if (!row) throw new Error('no admitted workload');
    await expect(dispatcher.dispatch(row.id, row.attempt + 1)).resolves.toEqual({
      outcome: 'skipped',
      reason: 'stale_attempt',
    });
    await expect(dispatcher.dispatch(row.id, row.attempt)).resolves.toEqual({
      outcome: 'dispatched',
      adapter: 'simulator',
    });
    await expect(dispatcher.dispatch(row.id, row.attempt)).resolves.toEqual({
      outcome: 'skipped',
      reason: 'already_dispatched',
    });
    expect(adapter.dispatched).toHaveLength(1);
    const sent = adapter.dispatched[0];
    expect(sent?.placement.reduce((sum, part) => sum + part.gpus, 0)).toBe(row.gpus);
    await dispatcher.cancel(row.id, row.attempt, 'test');
    expect(adapter.cancelled).toEqual([{ workloadId: row.id, attempt: row.attempt }]);
  });

  it('reconciler: re-sends lost dispatches, ends lost runs, ticks dirty partitions', async () => {
    const { workloads, partitions, endLostRuns } = workloadUseCases(dataSource);
    const reconciler = new WorkloadReconciler(
      workloads,
      partitions,
      endLostRuns,
      producer as unknown as JobProducer,
      logger,
      { intervalMs: 1000, dispatchGraceMs: 1000, lostGraceMs: 60_000 },
    );
    const [undispatched] = await dataSource
      .query<{ id: string; attempt: number }[]>(
        `UPDATE workloads SET admitted_at = now() - interval '1 minute'
       WHERE id = (SELECT id FROM workloads WHERE state = 'admitted' AND dispatched_at IS NULL LIMIT 1)
       RETURNING id, attempt`,
      )
      .then((result: unknown) => (result as [{ id: string; attempt: number }[], number])[0]);
    if (!undispatched) throw new Error('no undispatched workload');
    const [lost] = await dataSource
      .query(
        `UPDATE workloads SET state = 'running', dispatched_at = now() - interval '3 hours',
              started_at = now() - interval '3 hours'
       WHERE id = (SELECT id FROM workloads WHERE state = 'admitted' AND id <> $1 LIMIT 1)
       RETURNING id, held_gpu_seconds::text AS held, gpus, walltime_seconds`,
        [undispatched.id],
      )
      .then(
        (result: unknown) =>
          (result as [{ id: string; held: string; gpus: number; walltime_seconds: number }[], number])[0],
      );
    if (!lost) throw new Error('no lost workload');
    producer.jobs.splice(0);

    const sweep = await reconciler.sweep();
    expect(sweep.lost).toBe(1);
    expect(sweep.redispatched).toBeGreaterThanOrEqual(1);
    expect(sweep.cycles).toBe(1);
    expect(producer.take('dispatch.workload')).toContainEqual({
      name: 'dispatch.workload',
      data: { workloadId: undispatched.id, attempt: undispatched.attempt },
    });
    expect(producer.take('dispatch.cancel')).toEqual([
      {
        name: 'dispatch.cancel',
        data: { workloadId: lost.id, attempt: 0, reason: LOST_RUN_REASON },
      },
    ]);
    expect(producer.take('schedule.cycle')).toEqual([
      { name: 'schedule.cycle', data: { gpuModel: GPU_MODEL } },
    ]);
    const [ended] = await dataSource.query<
      { state: string; end_reason: string; placements: number; consumed: string }[]
    >(
      `SELECT state, end_reason, consumed_gpu_seconds::text AS consumed,
              (SELECT count(*) FROM workload_placements WHERE workload_id = $1)::int AS placements
       FROM workloads WHERE id = $1`,
      [lost.id],
    );
    // Nothing is charged by the end itself (usage records are), and nothing stays held for its
    // meter: the infrastructure lost the run, so whatever it meters is refunded as it is posted.
    // The workload goes back to the queue (its program requeues up to 3 times by default).
    expect(ended).toEqual({
      state: 'queued',
      end_reason: `${LOST_RUN_REASON} (requeued, 1 of at most 3)`,
      placements: 0,
      consumed: '0',
    });
    const [hold] = await dataSource.query<
      { remaining: string; refund_reason: string; release_after: Date }[]
    >(
      `SELECT remaining_gpu_seconds::text AS remaining, refund_reason, release_after
         FROM workload_holds WHERE workload_id = $1 AND attempt = 0`,
      [lost.id],
    );
    expect(hold).toMatchObject({ remaining: '0', refund_reason: LOST_RUN_REASON, release_after: null });
    expect(await poolFacts(dataSource, GPU_MODEL)).toMatchObject({ mismatched: 0, negative_allocations: 0 });
  });
});
