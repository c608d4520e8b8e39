import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { createTestDatabase } from '../support/database.js';
import { startThrowawayRedis } from '../support/processes.js';
import {
  expectExactlyOnce,
  logLine,
  schedulerEnv,
  Schedulers,
  seedUsageWorld,
  sendTwiceShuffled,
  startUsageApi,
  unpostedBatches,
  usageToken,
  waitUntilAllPosted,
  type UsageApi,
} from '../support/usage-load.js';

/**
 * Invariant 4 at volume: N usage records (default 1,000,000; USAGE_TEST_RECORDS=… to change) are
 * each sent TWICE, the 2N sends shuffled, in batches of 10,000 from 4 concurrent clients over HTTP
 * to the real API process (an API token of scope usage:write); 2 real scheduler processes post the
 * batches from a throwaway Redis. Then, exactly: N accepted and N duplicates, no answer but 202, N
 * records, the GPU-seconds computed here from the records (gpus × ceil(ms / 1000)), each
 * allocation's consumed balance (kept and recomputed) and daily rollups = its records, allocation +
 * hold + consumed = granted, every ledger transaction balanced, every kept balance = its entries,
 * the drift check reports nothing.
 *
 * Records: 8 allocations (2 projects × H200, H100, B200, A100), 40 days with Asia/Seoul midnight
 * crossings, ms offsets and durations at the metering edges (1 ms, 999/1000/1001 ms …). Most are
 * reserved-server usage (no workload); 3% of the H200 allocations' records name one of 4 workloads
 * the real schedulers admitted (their usage comes out of the hold first). The A100 allocations are
 * granted 60% of what they use: the overdraft is recorded (usage is a fact).
 *
 * Throughput is printed (the `usage-exactly-once` line). Budget: under ~4 minutes at 1,000,000 on
 * the 2-core dev machine.
 */
const RECORDS = Number(process.env.USAGE_TEST_RECORDS ?? 1_000_000);
const BATCH = 10_000;
const CLIENTS = 4;
const SEED = 20_260_501;

describe(`usage metering: ${RECORDS.toLocaleString('en')} records, each sent twice`, () => {
  let redis: Awaited<ReturnType<typeof startThrowawayRedis>>;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let api: UsageApi;
  let db: DataSource;
  let schedulers: Schedulers;
  const prefix = `u${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    redis = await startThrowawayRedis();
    database = await createTestDatabase('usage_exactly_once');
    schedulers = new Schedulers(schedulerEnv({ databaseUrl: database.url, redisUrl: redis.url, prefix }));
    schedulers.start(2);
    api = await startUsageApi({ databaseUrl: database.url, redisUrl: redis.url, prefix, poolSize: 8 });
    db = createDataSource({ url: database.url, poolSize: 4, applicationName: 'usage-test' });
    await db.initialize();
  }, 120_000);

  afterAll(async () => {
    await schedulers?.stopAll();
    await api?.close();
    await db?.destroy();
    await redis?.stop();
    await database?.drop();
  }, 60_000);

  it('counts every record exactly once: balanced ledger, exact balances and rollups, 0 drift', async () => {
    const world = await seedUsageWorld(db, {
      seed: SEED,
      records: RECORDS,
      models: ['H200', 'H100', 'B200', 'A100'],
      projects: 2,
      workloadsPerH200: 4,
      redisUrl: redis.url,
      prefix,
    });
    const token = await usageToken(api);

    let maxBacklog = 0;
    // No retries: on a clean run every answer must be 202 (a 5xx fails the test with its logged cause).
    const stats = await sendTwiceShuffled({
      api,
      token,
      load: world.load,
      ids: world.ids,
      batchSize: BATCH,
      clients: CLIENTS,
      retry: false,
      onBatch: (done) => {
        if (done % 10 === 0) {
          void unpostedBatches(db).then((open) => {
            maxBacklog = Math.max(maxBacklog, open);
          });
        }
      },
    });
    const drainMs = await waitUntilAllPosted(db, 600_000);
    const endToEndMs = Date.now() - stats.startedAt;

    const facts = await expectExactlyOnce(db, world.expected, world.ids, stats, { granted: world.granted });
    const overdrawn = await db.query<{ id: string }[]>(
      `SELECT a.id FROM allocations a JOIN account_balances b ON b.account = 'allocation:' || a.id
        WHERE a.id = ANY($1::uuid[]) AND b.balance < 0`,
      [world.ids.allocationIds],
    );
    expect(overdrawn).toHaveLength(2); // the A100 allocations, 40% over their grant
    const sendMs = stats.finishedAt - stats.startedAt;
    logLine({
      test: 'usage-exactly-once',
      records: RECORDS,
      sends: stats.sends,
      batches: stats.batches,
      batchSize: BATCH,
      clients: CLIENTS,
      apiProcesses: 1,
      schedulers: 2,
      requests: stats.requests,
      storedBatches: facts.batches,
      consumeTransactions: facts.consumeTransactions,
      midnightCrossings: world.expected.midnightCrossings,
      edgeRecords: world.expected.edgeRecords,
      workloadRecordsGpuSeconds: world.expected.perWorkload.flat().reduce((a, b) => a + b, 0n),
      gpuSeconds: world.expected.total,
      expectedComputeMs: world.expectedComputeMs,
      sendMs,
      drainAfterSendMs: drainMs,
      endToEndMs,
      ingestRecordsPerSecond: Math.round(stats.sends / (sendMs / 1000)),
      endToEndRecordsPerSecond: Math.round(stats.sends / (endToEndMs / 1000)),
      maxUnpostedBacklogSeen: maxBacklog,
      driftCheckMs: facts.driftCheckMs,
    });
  }, 1_200_000);
});
