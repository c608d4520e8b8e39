/**
 * bench:scheduler (b): admission end to end — HTTP submissions through the API, BullMQ cycle jobs,
 * the scheduler's PostgreSQL cycle — beside raw BullMQ add+process of no-op jobs on the same Redis
 * in the same run, as a ratio. Results: test/bench/results/scheduler-e2e.{json,md} with --write.
 *
 *   npm run bench:scheduler -- --workloads 2000 --concurrency 32 --write
 *
 * Uses the local PostgreSQL and Redis (throwaway database and queue prefix; nothing shared is touched).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import pg from 'pg';
import { configFrom } from '#config';
import { createDataSource, ensureDatabase } from '#persistence';
import { createApiApp } from '../../apps/api/src/bootstrap.js';
import { bootstrapAdmin } from '../../apps/api/src/cli/bootstrap-admin.js';
import { seedNationalPool } from '../../apps/api/src/cli/pool-seed.js';
import { grantUseCase } from '../support/grant.js';
import { spawn } from 'node:child_process';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function rawBullmq(
  redisUrl: string,
  jobs: number,
  concurrency: number,
): Promise<{ jobsPerSecond: number; seconds: number }> {
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const connection = { url: redisUrl, maxRetriesPerRequest: null };
  const queue = new Queue('raw', { connection, prefix });
  let done = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(
    'raw',
    () => {
      done += 1;
      if (done === jobs) finish();
      return Promise.resolve();
    },
    { connection, prefix, concurrency: 16 },
  );
  await worker.waitUntilReady();
  const started = performance.now();
  // One add per submission, `concurrency` in flight: the same shape as HTTP submissions.
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        next += 1;
        await queue.add('noop', { i: next }, { removeOnComplete: true });
      }
    }),
  );
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { jobsPerSecond: jobs / seconds, seconds };
}

async function main(): Promise<void> {
  const workloads = argument('workloads', 2000);
  const concurrency = argument('concurrency', 32);
  // --batch-size B: submit as sweeps (POST /v1/workloads/batch, B workloads each) instead of one by one.
  const batchSize = argument('batch-size', 0);
  const write = process.argv.includes('--write');
  // --submit-only: measure the API's submission path alone (no scheduler, no admission).
  const submitOnly = process.argv.includes('--submit-only');
  const stamp = Date.now();
  const databaseName = `gpupool_bench_${stamp}`;
  const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  const config = configFrom({
    DATABASE_URL: url.toString(),
    QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
    RECONCILE_INTERVAL_MS: '2000',
    PORT: '0',
  });
  await ensureDatabase(config.DATABASE_URL);
  const dataSource = createDataSource({ url: config.DATABASE_URL, poolSize: 4 });
  await dataSource.initialize();
  await dataSource.runMigrations();

  const raw = await rawBullmq(config.REDIS_URL, workloads, concurrency);

  await bootstrapAdmin(config);
  const app = await createApiApp(config, { logs: false });
  await app.listen(0, '127.0.0.1');
  const base = await app.getUrl();
  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(new URL(path, base), {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const login = await call('POST', '/v1/auth/login', {
    email: config.GPUPOOL_ADMIN_EMAIL,
    password: config.GPUPOOL_ADMIN_PASSWORD,
  });
  const admin = login.body.accessToken as string;
  await seedNationalPool((method, path, body) => call(method, path, body, admin));
  const fixture = await seedApprovedRequest(dataSource, {
    models: ['H200'],
    budgetGpuHours: 100_000_000n,
    grantedGpuHours: [50_000_000n],
    maxConcurrentGpus: 40_000,
  });
  await grantUseCase(dataSource).execute(fixture.requestId);
  const [allocation] = await dataSource.query<{ id: string }[]>(
    'SELECT id FROM allocations WHERE request_id = $1',
    [fixture.requestId],
  );
  if (!allocation) throw new Error('no allocation');

  // The scheduler runs in a process of its own, as in production: its cycles must not share an
  // event loop with the API that serves the submissions.
  const scheduler = spawn(
    process.execPath,
    [
      submitOnly ? '-e' : 'dist/apps/scheduler/src/main.js',
      ...(submitOnly ? ['setInterval(() => {}, 1000)'] : []),
    ],
    {
      env: {
        ...process.env,
        DATABASE_URL: config.DATABASE_URL,
        REDIS_URL: config.REDIS_URL,
        QUEUE_BACKEND: config.QUEUE_BACKEND,
        QUEUE_PREFIX: config.QUEUE_PREFIX,
        LOG_LEVEL: 'warn',
        RECONCILE_INTERVAL_MS: '2000',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));

  const started = performance.now();
  let next = 0;
  let refused = 0;
  const workload = { allocationId: allocation.id, gpuModel: 'H200', gpus: 1, walltimeSeconds: 3600 };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < workloads) {
        if (batchSize > 0) {
          const count = Math.min(batchSize, workloads - next);
          next += count;
          const response = await call(
            'POST',
            '/v1/workloads/batch',
            { ...workload, name: `sweep-${next}`, count },
            admin,
          );
          if (response.status !== 202) refused += count;
          continue;
        }
        next += 1;
        const response = await call('POST', '/v1/workloads', { ...workload, name: `bench-${next}` }, admin);
        if (response.status !== 202) refused += 1;
      }
    }),
  );
  const submittedSeconds = (performance.now() - started) / 1000;
  const client = new pg.Client({ connectionString: config.DATABASE_URL });
  await client.connect();
  const deadline = Date.now() + (submitOnly ? 0 : 300_000);
  for (;;) {
    const counted = await client.query<{ admitted: string }>(
      "SELECT count(*) AS admitted FROM workloads WHERE state IN ('admitted','running','succeeded')",
    );
    if (Number(counted.rows[0]?.admitted ?? 0) >= workloads - refused || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const admittedSeconds = (performance.now() - started) / 1000;
  const latencies = await client.query<{ ms: string }>(
    'SELECT EXTRACT(EPOCH FROM (admitted_at - created_at)) * 1000 AS ms FROM workloads WHERE admitted_at IS NOT NULL ORDER BY 1',
  );
  const sorted = latencies.rows.map((row) => Number(row.ms));
  const cycles = await client.query<{ cycles: string }>(
    "SELECT cycles::text FROM scheduling_partitions WHERE gpu_model = 'H200'",
  );
  await client.end();

  const admittedPerSecond = sorted.length / admittedSeconds;
  const result = {
    benchmark: 'scheduler-e2e',
    command: `npm run bench:scheduler -- --write → node dist/test/bench/scheduler-e2e.bench.js ${process.argv.slice(2).join(' ')}`,
    node: process.version,
    at: new Date().toISOString(),
    pool: { gpus: 50_000, nodes: 6_250 },
    workloads,
    refused,
    concurrency,
    batchSize,
    gpupool: {
      submitSeconds: Number(submittedSeconds.toFixed(3)),
      admittedPerSecond: Number(admittedPerSecond.toFixed(1)),
      submitToAdmittedMs: {
        p50: Math.round(percentile(sorted, 50)),
        p99: Math.round(percentile(sorted, 99)),
      },
      cycles: Number(cycles.rows[0]?.cycles ?? 0),
    },
    rawBullmq: { jobsPerSecond: Number(raw.jobsPerSecond.toFixed(1)) },
    ratio: Number((admittedPerSecond / raw.jobsPerSecond).toFixed(3)),
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  if (write) {
    mkdirSync('test/bench/results', { recursive: true });
    const mode = batchSize > 0 ? 'sweeps' : 'single';
    writeFileSync(`test/bench/results/scheduler-e2e-${mode}.json`, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(
      `test/bench/results/scheduler-e2e-${mode}.md`,
      [
        `# bench:scheduler (b): admission end to end — ${batchSize > 0 ? `sweeps of ${batchSize}` : 'one submission per request'}`,
        '',
        `Command: \`${result.command}\` (${result.node}, ${result.at}; 2-core shared machine).`,
        '',
        '| measure | gpupool (HTTP → BullMQ → cycle in PostgreSQL) | raw BullMQ no-op add+process |',
        '| --- | --- | --- |',
        `| throughput | ${result.gpupool.admittedPerSecond} admitted/s | ${result.rawBullmq.jobsPerSecond} jobs/s |`,
        `| ratio | ${result.ratio} | 1 |`,
        `| submit → admitted p50 / p99 | ${result.gpupool.submitToAdmittedMs.p50} ms / ${result.gpupool.submitToAdmittedMs.p99} ms | — |`,
        `| scheduling cycles for ${workloads} submissions | ${result.gpupool.cycles} | — |`,
        '',
      ].join('\n'),
    );
  }
  const exited = new Promise((resolve) => scheduler.once('exit', resolve));
  scheduler.kill('SIGTERM');
  await exited;
  await app.close();
  await dataSource.destroy();
  const dropper = new pg.Client({ connectionString: adminUrl });
  await dropper.connect();
  await dropper.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
  await dropper.end();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
