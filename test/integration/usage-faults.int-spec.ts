import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { createTestDatabase } from '../support/database.js';
import { createMigratedDatabase, startThrowawayPostgres } from '../support/postgres-throwaway.js';
import { startThrowawayRedis } from '../support/processes.js';
import {
  expectExactlyOnce,
  logLine,
  openQueues,
  queueEvents,
  schedulerEnv,
  Schedulers,
  schedulerMidPosting,
  seedUsageWorld,
  sendTwiceShuffled,
  startUsageApi,
  unpostedBatches,
  usageToken,
  waitUntilAllPosted,
  type SendStats,
  type UsageApi,
  type UsageWorld,
} from '../support/usage-load.js';

/**
 * Invariants 4 and 5 under faults. In each scenario N records (default 100,000;
 * USAGE_FAULT_RECORDS=… to change) are each sent twice, shuffled, in batches of 2,500 from 4
 * concurrent clients to the real API process while 2 real scheduler processes post them, and a
 * fault hits mid-ingest:
 *   a) kill -9 of a scheduler process caught inside a usage posting transaction (twice: each
 *      original process), a replacement started each time — BullMQ redelivers the stalled jobs;
 *   a2) one batch whose posting is killed twice (kill -9, redelivered, kill -9 again: BullMQ then
 *      fails the job, "stalled more than allowable limit") — the usage sweep must still post it;
 *   b) Redis FLUSHALL (twice) — queued jobs and the periodic job schedulers vanish; the usage sweep
 *      re-enqueues unposted batches from PostgreSQL;
 *   c) PostgreSQL (a throwaway cluster of this test) crashed and restarted (pg_ctl restart -m
 *      immediate), then restarted again (-m fast) — clients resend batches answered 5xx or lost.
 * Each ends with the same exact checks as the volume test (usage-exactly-once): nothing lost,
 * nothing doubled, ledger balanced, balances = sums, rollups = records, 0 drift — also in every
 * drift check the schedulers ran during the faults.
 */
const RECORDS = Number(process.env.USAGE_FAULT_RECORDS ?? 100_000);
const BATCH = 2_500;
/** Scenario a2: one batch holding every record, sent twice in one call each. */
const RECORDS_TWICE_KILLED = 2_000;
const CLIENTS = 4;
/** Recovery in seconds, not minutes (minimums in libs/config/src/config.schema.ts). */
const FAST_RECOVERY = {
  WORKER_LOCK_DURATION_MS: '2000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  RECONCILE_INTERVAL_MS: '500',
  RECONCILE_GRACE_MS: '3000',
  USAGE_DRIFT_CHECK_INTERVAL_MS: '4000',
};

interface Stage {
  redis: Awaited<ReturnType<typeof startThrowawayRedis>>;
  prefix: string;
  databaseUrl: string;
  api: UsageApi;
  db: DataSource;
  schedulers: Schedulers;
  world: UsageWorld;
  token: string;
  teardown: (() => Promise<void>)[];
}

async function setUp(
  seed: number,
  database: { url: string; drop?: () => Promise<void> },
  records = RECORDS,
): Promise<Stage> {
  const teardown: (() => Promise<void>)[] = [];
  if (database.drop) teardown.push(database.drop);
  const redis = await startThrowawayRedis();
  teardown.push(() => redis.stop());
  const prefix = `f${randomBytes(3).toString('hex')}`;
  const schedulers = new Schedulers(
    schedulerEnv({ databaseUrl: database.url, redisUrl: redis.url, prefix, extra: FAST_RECOVERY }),
  );
  teardown.push(() => schedulers.stopAll());
  schedulers.start(2);
  const api = await startUsageApi({ databaseUrl: database.url, redisUrl: redis.url, prefix, poolSize: 8 });
  teardown.push(() => api.close());
  const db = createDataSource({ url: database.url, poolSize: 3, applicationName: 'usage-fault-test' });
  await db.initialize();
  teardown.push(() => db.destroy());
  const world = await seedUsageWorld(db, {
    seed,
    records,
    models: ['H200', 'H100', 'B200', 'A100'],
    projects: 2,
    workloadsPerH200: 4,
    redisUrl: redis.url,
    prefix,
  });
  const token = await usageToken(api);
  return { redis, prefix, databaseUrl: database.url, api, db, schedulers, world, token, teardown };
}

async function tearDown(stage: Stage | undefined): Promise<void> {
  for (const step of [...(stage?.teardown ?? [])].reverse()) await step().catch(() => undefined);
}

/** Sends with retries, firing `fault` once when `at` of the batches are answered. */
async function ingestWithFault(
  stage: Stage,
  faults: { at: number; run: () => Promise<unknown> }[],
): Promise<{ stats: SendStats; faultResults: unknown[] }> {
  const fired: Promise<unknown>[] = [];
  const stats = await sendTwiceShuffled({
    api: stage.api,
    token: stage.token,
    load: stage.world.load,
    ids: stage.world.ids,
    batchSize: BATCH,
    clients: CLIENTS,
    retry: true,
    onBatch: (done, total) => {
      while (fired.length < faults.length && done >= faults[fired.length].at * total) {
        const fault = faults[fired.length];
        // A fault that runs after the clients finish would not be mid-ingest: sequence after the last.
        const previous = fired[fired.length - 1] ?? Promise.resolve();
        fired.push(previous.then(() => fault.run()));
      }
    },
  });
  const faultResults = await Promise.all(fired);
  expect(faultResults).toHaveLength(faults.length);
  return { stats, faultResults };
}

function summary(stats: SendStats) {
  return {
    records: stats.sends / 2,
    sends: stats.sends,
    batches: stats.batches,
    requests: stats.requests,
    resentAfter5xxOrConnectionError: stats.retries,
    resendReasons: Object.fromEntries(stats.retryReasons),
    sendMs: stats.finishedAt - stats.startedAt,
  };
}

describe(`usage metering under faults: ${RECORDS.toLocaleString('en')} records, each sent twice`, () => {
  it('a) kill -9 of a scheduler process mid-posting: stalled jobs redelivered, nothing lost or doubled', async () => {
    let stage: Stage | undefined;
    try {
      const database = await createTestDatabase('usage_fault_kill');
      stage = await setUp(11, database);
      const current = stage;
      const originals = [...current.schedulers.running()];
      const kill = async (victimPool: typeof originals) => {
        const caught = await schedulerMidPosting(current.db, victimPool);
        const victim = caught?.child ?? victimPool.find((child) => child.exitCode === null)!;
        const unposted = await unpostedBatches(current.db);
        victim.kill('SIGKILL');
        await new Promise((resolve) => victim.once('exit', resolve));
        current.schedulers.start(1);
        return {
          pid: victim.pid,
          midPosting: Boolean(caught),
          statement: caught?.query,
          unpostedAtKill: unposted,
        };
      };
      const { stats, faultResults } = await ingestWithFault(current, [
        { at: 0.25, run: () => kill([originals[0]]) },
        { at: 0.6, run: () => kill([originals[1]]) },
      ]);
      const drainMs = await waitUntilAllPosted(current.db, 180_000);
      const events = await queueEvents(current.redis.url, current.prefix, 'usage');
      const facts = await expectExactlyOnce(current.db, current.world.expected, current.world.ids, stats, {
        granted: current.world.granted,
      });
      const kills = faultResults as { midPosting: boolean }[];
      // Each kill landed inside a posting transaction; its job was run again, found stalled by
      // BullMQ or re-enqueued by the usage sweep from PostgreSQL (whichever came first), and the
      // counts above are exact either way.
      expect(kills.map((entry) => entry.midPosting)).toEqual([true, true]);
      logLine({
        test: 'usage-faults/a-kill-9-scheduler',
        ...summary(stats),
        kills,
        stalledJobsRedelivered: events.stalled.length,
        failedJobAttempts: events.failed.length,
        drainAfterSendMs: drainMs,
        ...facts,
      });
    } finally {
      await tearDown(stage);
    }
  }, 600_000);

  it('a2) a posting killed twice (kill -9, redelivered, kill -9 again) is still posted: the sweep gets it back', async () => {
    // BullMQ fails a job found stalled more than once (maxStalledCount 1). The batch is still
    // unposted in PostgreSQL, so the usage sweep must get it posted all the same.
    let stage: Stage | undefined;
    let release = (): Promise<void> => Promise.resolve();
    try {
      const database = await createTestDatabase('usage_fault_kill_twice');
      stage = await setUp(44, database, RECORDS_TWICE_KILLED);
      const current = stage;
      // Keep the batch's posting waiting on its allocations' row locks while its processes die.
      const runner = current.db.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      await runner.query('SELECT id FROM allocations WHERE id = ANY($1::uuid[]) FOR NO KEY UPDATE', [
        current.world.ids.allocationIds,
      ]);
      let released = false;
      release = async () => {
        if (released) return;
        released = true;
        await runner.rollbackTransaction().catch(() => undefined);
        await runner.release();
      };
      const kills: { pid?: number; statement?: string }[] = [];
      const send = sendTwiceShuffled({
        api: current.api,
        token: current.token,
        load: current.world.load,
        ids: current.world.ids,
        batchSize: 2 * RECORDS_TWICE_KILLED,
        clients: 1,
        retry: true,
      });
      for (let round = 0; round < 2; round += 1) {
        const caught = await schedulerMidPosting(current.db, current.schedulers.running(), 30_000);
        expect(caught).toBeDefined();
        caught!.child.kill('SIGKILL');
        await new Promise((resolve) => caught!.child.once('exit', resolve));
        kills.push({ pid: caught!.child.pid, statement: caught!.query });
        current.schedulers.start(1);
      }
      await release();
      const stats = await send;
      let drainMs: number | undefined;
      try {
        drainMs = await waitUntilAllPosted(current.db, 60_000);
      } catch {
        drainMs = undefined;
      }
      const events = await queueEvents(current.redis.url, current.prefix, 'usage');
      logLine({
        test: 'usage-faults/a2-kill-9-twice',
        ...summary(stats),
        kills,
        stalled: events.stalled.length,
        failed: events.failed,
        reEnqueuesIgnoredAsDuplicates: events.duplicated.length,
        drainAfterSendMs: drainMs ?? 'never (60 s)',
      });
      if (drainMs === undefined) {
        throw new Error(
          `The batch was never posted: its usage.post job failed (${events.failed.map((f) => f.reason).join('; ')}) ` +
            `and stays in the failed set under its id, so the usage sweep's ${events.duplicated.length} ` +
            're-enqueues under the same jobId were ignored as duplicates (libs/queues/src/jobs.ts: ' +
            'usage.post keeps failed jobs, base removeOnFail { count: 5000 }).',
        );
      }
      await expectExactlyOnce(current.db, current.world.expected, current.world.ids, stats, {
        granted: current.world.granted,
      });
    } finally {
      await release().catch(() => undefined);
      await tearDown(stage);
    }
  }, 300_000);

  it('b) Redis FLUSHALL mid-ingest: the usage sweep re-enqueues from PostgreSQL, nothing lost or doubled', async () => {
    let stage: Stage | undefined;
    let queues: ReturnType<typeof openQueues> | undefined;
    try {
      const database = await createTestDatabase('usage_fault_flush');
      stage = await setUp(22, database);
      const current = stage;
      queues = openQueues(current.redis.url, current.prefix);
      const { producer } = queues;
      const { Redis } = await import('ioredis');
      const flush = async () => {
        // Make sure there is something for Redis to lose: hold the usage queue (workers take no new
        // job) until a posting job waits in it, then flush (which also drops the pause).
        const usage = producer.queue('usage');
        await usage.pause();
        const deadline = Date.now() + 15_000;
        let counts = await usage.getJobCounts('waiting', 'active', 'delayed');
        while (Date.now() < deadline && counts.waiting + counts.delayed === 0) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          counts = await usage.getJobCounts('waiting', 'active', 'delayed');
        }
        const client = new Redis(current.redis.url, { maxRetriesPerRequest: 1 });
        await client.flushall();
        client.disconnect();
        return {
          queuedAtFlush: { ...counts, lost: counts.waiting + counts.delayed },
          unpostedAtFlush: await unpostedBatches(current.db),
        };
      };
      const { stats, faultResults } = await ingestWithFault(current, [
        { at: 0.3, run: flush },
        { at: 0.65, run: flush },
      ]);
      const drainMs = await waitUntilAllPosted(current.db, 180_000);
      const flushes = faultResults as { queuedAtFlush: { lost: number }; unpostedAtFlush: number }[];
      // Each flush lost queued posting jobs: only the sweep (from PostgreSQL) could bring them back.
      expect(flushes.map((entry) => entry.queuedAtFlush.lost > 0)).toEqual([true, true]);
      const facts = await expectExactlyOnce(current.db, current.world.expected, current.world.ids, stats, {
        granted: current.world.granted,
      });
      logLine({
        test: 'usage-faults/b-redis-flushall',
        ...summary(stats),
        flushes,
        drainAfterSendMs: drainMs,
        ...facts,
      });
    } finally {
      await queues?.close();
      await tearDown(stage);
    }
  }, 600_000);

  it('c) PostgreSQL crashed and restarted mid-ingest: clients resend, nothing lost or doubled', async () => {
    let stage: Stage | undefined;
    const server = await startThrowawayPostgres();
    try {
      const url = await createMigratedDatabase(server, 'gpupool');
      stage = await setUp(33, { url });
      const current = stage;
      const restart = async (mode: 'immediate' | 'fast') => {
        const unposted = await unpostedBatches(current.db);
        const { downMs } = await server.restart(mode);
        return { mode, downMs, unpostedAtRestart: unposted };
      };
      const { stats, faultResults } = await ingestWithFault(current, [
        { at: 0.3, run: () => restart('immediate') },
        { at: 0.65, run: () => restart('fast') },
      ]);
      const drainMs = await waitUntilAllPosted(current.db, 180_000);
      // The processes rode the restarts out (none exited).
      expect(current.schedulers.running()).toHaveLength(2);
      expect(current.api.process.exitCode).toBeNull();
      // A commit whose answer was lost to the crash is found as a batch nobody saw an answer for.
      const facts = await expectExactlyOnce(current.db, current.world.expected, current.world.ids, stats, {
        granted: current.world.granted,
        allowUnansweredBatches: true,
      });
      const events = await queueEvents(current.redis.url, current.prefix, 'usage');
      logLine({
        test: 'usage-faults/c-postgres-restart',
        ...summary(stats),
        restarts: faultResults,
        failedJobAttempts: events.failed.length,
        drainAfterSendMs: drainMs,
        ...facts,
      });
    } finally {
      await tearDown(stage);
      await server.stop();
    }
  }, 600_000);
});
