import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { configFrom } from '../../../libs/config/src/index.js';
import { createDataSource } from '../../../libs/persistence/src/index.js';
import { bootstrapAdmin } from '../../../apps/api/src/cli/bootstrap-admin.js';
import { ensureSimulatorToken } from '../../../apps/api/src/cli/agent-token.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from '../../support/api-harness.js';
import {
  createMigratedDatabase,
  startThrowawayPostgres,
  type ThrowawayPostgres,
} from '../../support/postgres-throwaway.js';
import {
  freePort,
  reapOnExit,
  startSchedulerProcess,
  startSimulatorProcess,
  stopProcess,
  waitFor,
} from '../../support/processes.js';
import { seedPool, seedQuotas, type PoolFixture, type QuotaFixture } from '../../factories/pool-fixtures.js';

const run = promisify(execFile);

/**
 * The whole of gpupool on servers of this test's own, every part of which a fault test may kill,
 * stop, flush or crash: a throwaway PostgreSQL cluster (initdb, spare port), a redis-server on a
 * spare port that can be stopped and started again on that same port, and the built API, scheduler
 * and simulated cluster agent as child processes (dist/), one database and one queue prefix. The
 * API keeps its port across restarts, so the agent's SIMULATOR_API_URL stays right, and its JWT
 * secret, so the load's admin token stays valid. The shared services on 5432/6379 are never touched.
 */
export interface ChaosStack {
  postgres: ThrowawayPostgres & {
    /** `pg_ctl stop -m fast`: the server is down until `start`. */
    stopServer(): Promise<void>;
    startServer(): Promise<void>;
  };
  redis: RestartableRedis;
  api: ManagedProcess & { baseUrl: string; adminToken: string; logFile: string };
  scheduler: ManagedProcess;
  simulator: ManagedProcess;
  databaseUrl: string;
  prefix: string;
  /** The test's own connections, for seeding and the invariant checks (they survive restarts). */
  db: DataSource;
  pool: PoolFixture;
  quota: QuotaFixture;
  /** The logged cause of a 5xx answer's errorId in the API logs, if found. */
  explain(errorId: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** A child process that can be killed with SIGKILL and started again with the same environment. */
export interface ManagedProcess {
  current(): ChildProcess;
  /** Starts it (again) and waits until it is ready. */
  start(): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill9(): Promise<void>;
  /** Every instance started so far (the restarts included). */
  instances(): ChildProcess[];
}

export interface RestartableRedis {
  url: string;
  port: number;
  flushAll(): Promise<void>;
  /** SIGTERM (this Redis keeps nothing on disk: a restart comes back empty, as a lost Redis does). */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Fast recovery settings (minimums in libs/config/src/config.schema.ts), as the fault tests use. */
export const FAST_RECOVERY = {
  WORKER_LOCK_DURATION_MS: '2000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  RECONCILE_INTERVAL_MS: '500',
  RECONCILE_GRACE_MS: '2000',
  AGENT_HEARTBEAT_TIMEOUT_MS: '10000',
  AGENT_HEARTBEAT_INTERVAL_MS: '1000',
};

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (exited(child)) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function managed(spawnIt: () => ChildProcess, ready: (child: ChildProcess) => Promise<void>): ManagedProcess {
  const all: ChildProcess[] = [];
  return {
    current: () => {
      const last = all[all.length - 1];
      if (!last) throw new Error('not started');
      return last;
    },
    start: async () => {
      const child = spawnIt();
      all.push(child);
      await ready(child);
    },
    kill9: () => {
      const last = all[all.length - 1];
      return last ? kill9(last) : Promise.resolve();
    },
    instances: () => [...all],
  };
}

function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return join(root, versions[0], 'bin');
}

/** pg_ctl on the throwaway cluster's data directory, as the user its files belong to (see postgres-throwaway). */
function pgCtl(server: ThrowawayPostgres, args: string[]) {
  const command = join(postgresBin(), 'pg_ctl');
  const all = [
    '-D',
    server.dataDir,
    '-l',
    join(dirname(server.dataDir), 'server.log'),
    '-w',
    '-t',
    '60',
    ...args,
  ];
  return process.getuid?.() === 0
    ? run('runuser', ['-u', 'postgres', '--', command, ...all], { timeout: 120_000 })
    : run(command, all, { timeout: 120_000 });
}

async function startRedis(): Promise<RestartableRedis & { stopForGood(): Promise<void> }> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  let child: ChildProcess | undefined;
  const ping = async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const start = async () => {
    child = reapOnExit(
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore', env: process.env },
      ),
    );
    const started = child;
    await waitFor(
      'the throwaway redis-server',
      () => {
        if (exited(started))
          throw new Error(`redis-server exited (${started.exitCode ?? started.signalCode})`);
        return ping();
      },
      30_000,
    );
  };
  await start();
  const stop = async () => {
    if (child) await stopProcess(child);
  };
  return {
    url,
    port,
    start,
    stop,
    stopForGood: stop,
    flushAll: async () => {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
  };
}

export async function startChaosStack(options: {
  nodes: number;
  gpusPerNode: number;
  grantedGpuHours: bigint;
  maxConcurrentGpus: number;
}): Promise<ChaosStack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  try {
    const server = await startThrowawayPostgres();
    cleanups.push(() => server.stop());
    const databaseUrl = await createMigratedDatabase(server, 'gpupool');
    const redis = await startRedis();
    cleanups.push(() => redis.stopForGood());
    const prefix = `c${randomBytes(3).toString('hex')}`;
    const apiPort = await freePort();
    const baseUrl = `http://127.0.0.1:${apiPort}`;
    const common: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      QUEUE_BACKEND: 'redis',
      QUEUE_PREFIX: prefix,
      GPUPOOL_ADMIN_EMAIL: ADMIN_EMAIL,
      GPUPOOL_ADMIN_PASSWORD: ADMIN_PASSWORD,
      ...FAST_RECOVERY,
    };
    const config = configFrom({ ...common, LOG_LEVEL: 'silent' });
    await bootstrapAdmin(config);
    const agentToken = await ensureSimulatorToken(config);

    const db = createDataSource({ url: databaseUrl, poolSize: 3, applicationName: 'chaos-test' });
    await db.initialize();
    cleanups.push(() => db.destroy());
    const pool = await seedPool(db, {
      gpuModel: 'H200',
      nodes: options.nodes,
      gpusPerNode: options.gpusPerNode,
      domains: 1,
    });
    const [quota] = await seedQuotas(db, 'H200', [
      { grantedGpuHours: options.grantedGpuHours, maxConcurrentGpus: options.maxConcurrentGpus },
    ]);
    if (!quota) throw new Error('no quota');

    // The API: its own log file (warn and up) per run of the file, appended to by every restart.
    const logFile = join(tmpdir(), `gpupool-chaos-api-${process.pid}-${apiPort}.log`);
    cleanups.push(() => rm(logFile, { force: true }));
    const apiEnv = {
      ...common,
      DATABASE_POOL_SIZE: '8',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      // The load is one principal submitting continuously, on purpose.
      RATE_LIMITS: 'false',
      PORT: String(apiPort),
      HOST: '127.0.0.1',
    };
    let adminToken = '';
    const api = managed(
      () => {
        const log = openSync(logFile, 'a');
        const child = spawn(process.execPath, ['dist/apps/api/src/main.js'], {
          env: {
            ...process.env,
            NODE_OPTIONS: '--enable-source-maps',
            LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
            ...apiEnv,
          },
          stdio: ['ignore', log, log],
        });
        closeSync(log);
        return reapOnExit(child);
      },
      async (child) => {
        const answer = await waitFor(
          'the API to answer a sign-in',
          async () => {
            if (exited(child)) throw new Error(`the API exited (${child.exitCode ?? child.signalCode})`);
            const response = await fetch(`${baseUrl}/v1/auth/login`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
              signal: AbortSignal.timeout(5_000),
            });
            return response.status === 200 ? ((await response.json()) as { accessToken: string }) : false;
          },
          90_000,
        );
        adminToken ||= answer.accessToken;
      },
    );
    cleanups.push(() => Promise.all(api.instances().map((child) => stopProcess(child))));
    await api.start();

    const processEnv = {
      ...common,
      DATABASE_POOL_SIZE: '6',
      SIMULATOR_API_URL: baseUrl,
      SIMULATOR_API_TOKEN: agentToken,
      // Real time: a record's end is its report's time, so no future tolerance is needed.
      SIMULATOR_TIME_SCALE: '1',
    };
    /** A process is up once it holds a PostgreSQL session (the scheduler) or its resync was accepted (the agent). */
    const scheduler = managed(
      () => startSchedulerProcess(processEnv),
      async (child) => {
        await waitFor(
          'the scheduler to connect',
          async () => {
            if (exited(child))
              throw new Error(`the scheduler exited (${child.exitCode ?? child.signalCode})`);
            const [row] = await db.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'gpupool-scheduler'`,
            );
            return (row?.n ?? 0) > 0;
          },
          90_000,
        );
      },
    );
    cleanups.push(() => Promise.all(scheduler.instances().map((child) => stopProcess(child))));
    await scheduler.start();
    const simulator = managed(
      () => startSimulatorProcess(processEnv),
      async (child) => {
        const since = new Date();
        await waitFor(
          'the simulated agent to resync (it takes runs from then on)',
          async () => {
            if (exited(child)) throw new Error(`the agent exited (${child.exitCode ?? child.signalCode})`);
            const [row] = await db.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM cluster_agents WHERE resynced_at >= $1`,
              [since],
            );
            return (row?.n ?? 0) > 0;
          },
          90_000,
        );
      },
    );
    cleanups.push(() => Promise.all(simulator.instances().map((child) => stopProcess(child))));
    await simulator.start();

    const explain = async (errorId: string): Promise<string | undefined> => {
      const line = (await readFile(logFile, 'utf8').catch(() => ''))
        .split('\n')
        .find((entry) => entry.includes(errorId));
      if (!line) return undefined;
      try {
        const parsed = JSON.parse(line) as { msg?: string; err?: { message?: string; stack?: string } };
        const frame = parsed.err?.stack
          ?.split('\n')
          .find((entry) => /\/(apps|libs)\//.test(entry))
          ?.replace(/^.*\/((apps|libs)\/[^)]*).*$/, '$1');
        return `${parsed.err?.message ?? parsed.msg ?? 'unknown'}${frame ? ` @ ${frame}` : ''}`;
      } catch {
        return line.slice(0, 300);
      }
    };

    return {
      postgres: {
        ...server,
        stopServer: async () => {
          await pgCtl(server, ['-m', 'fast', 'stop']);
        },
        startServer: async () => {
          await pgCtl(server, ['start']);
          await waitFor('the throwaway PostgreSQL to accept queries', () => db.query('SELECT 1'), 60_000);
        },
      },
      redis,
      api: { ...api, baseUrl, logFile, adminToken },
      scheduler,
      simulator,
      databaseUrl,
      prefix,
      db,
      pool,
      quota,
      explain,
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
