import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { configFrom } from '../../libs/config/src/index.js';
import { bootstrapAdmin } from '../../apps/api/src/cli/bootstrap-admin.js';
import { grantUseCase } from './grant.js';
import { reconcileUsageAndBalances } from './usage-pipeline.js';
import { JobProducer, QueueTransport, type JobItem } from '../../libs/queues/src/index.js';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';
import { seedPool, submitWorkloads } from '../factories/pool-fixtures.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './api-harness.js';
import { freePort, reapOnExit, startSchedulerProcess, stopProcess, waitFor } from './processes.js';

/*
 * Load and checks for the usage-metering evidence tests (invariant 4: every usage record counts
 * exactly once, whatever is re-sent or redelivered; invariant 1: balanced ledger, balances = sums).
 *
 * Records are a pure function of (seed, index): nothing holds the record list. The sends (every
 * record twice, shuffled) are a permutation of 2N positions in one Uint32Array; each batch body is
 * built when a client pulls it from the shared queue.
 */

// Globals cached in module bindings: inside Jest's VM sandbox each global lookup (Math, BigInt,
// Date) goes through an interceptor and made the generator ~10× slower.
const { imul, floor, ceil } = Math;
const big = BigInt;
const IsoDate = Date;

export const DAY_MS = 24 * 3600 * 1000;
const SEOUL_OFFSET_MS = 9 * 3600 * 1000;

// ---------------------------------------------------------------------------------------------
// Deterministic records
// ---------------------------------------------------------------------------------------------

/** murmur3's 32-bit finalizer: a good avalanche, so hash(seed, index, k) are independent draws. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h = imul(h ^ (h >>> 16), 0x85ebca6b);
  h = imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function draw(seed: number, index: number, k: number): number {
  return fmix32(fmix32(seed ^ imul(index + 1, 0x9e3779b1)) + imul(k + 1, 0x632be5ab));
}

/** A small seeded PRNG (mulberry32) for the shuffle. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export interface LoadAllocation {
  gpuModel: string;
  /** How many of this allocation's records name a workload (by index into `workloads`): 0..100 %. */
  workloadPercent?: number;
}

/** One generated record before ids are known: allocation and workload by index. */
export interface GeneratedRecord {
  source: string;
  externalId: string;
  allocation: number;
  /** Index into the allocation's workloads, or -1 (reserved-server usage, no workload). */
  workload: number;
  gpus: number;
  startMs: number;
  endMs: number;
}

const GPU_CHOICES = [1, 1, 1, 2, 2, 4, 4, 8, 8, 8, 16, 64];
/** Durations right at the metering rule's edges: 1 ms → 1 s, 1000 ms → 1 s, 1001 ms → 2 s. */
const EDGE_DURATIONS_MS = [1, 2, 999, 1000, 1001, 1999, 2000, 59_999, 60_000, 60_001];

/**
 * N records spread over 40 days that end at least ~46 hours before `nowMs`: mostly up to 12 h long
 * with ms offsets, some at the metering edges, some placed across an Asia/Seoul midnight, a few
 * over 24 h (three Seoul days). `workloadsPer[a]` is how many workloads allocation a has.
 */
export class UsageLoad {
  /** Inclusive start of the spread: 44 days before now, so every record (≤ 50 h) ends ≥ 1.9 days ago. */
  readonly fromMs: number;
  readonly spanMs = 40 * DAY_MS;

  constructor(
    readonly seed: number,
    readonly records: number,
    readonly allocations: readonly LoadAllocation[],
    readonly workloadsPer: readonly number[],
    nowMs: number,
  ) {
    this.fromMs = nowMs - 44 * DAY_MS;
  }

  record(index: number): GeneratedRecord {
    const r = (k: number) => draw(this.seed, index, k);
    const allocation = r(0) % this.allocations.length;
    const gpus = GPU_CHOICES[r(1) % GPU_CHOICES.length];
    let startMs = this.fromMs + (r(2) % this.spanMs);
    const kind = r(3) % 100;
    let durationMs: number;
    if (kind < 6) {
      durationMs = EDGE_DURATIONS_MS[r(4) % EDGE_DURATIONS_MS.length];
    } else if (kind < 20) {
      // Across a Seoul midnight: starts up to 2 h before one, ends up to 2 h after it.
      const seoulMidnight = floor((startMs + SEOUL_OFFSET_MS) / DAY_MS) * DAY_MS - SEOUL_OFFSET_MS + DAY_MS;
      startMs = seoulMidnight - 1 - (r(4) % (2 * 3600 * 1000));
      durationMs = seoulMidnight - startMs + 1 + (r(5) % (2 * 3600 * 1000));
    } else if (kind < 22) {
      durationMs = DAY_MS + 1 + (r(4) % (26 * 3600 * 1000)); // 24–50 h: three Seoul days
    } else {
      durationMs = 1 + (r(4) % (12 * 3600 * 1000));
    }
    const workloads = this.workloadsPer[allocation] ?? 0;
    const percent = this.allocations[allocation]?.workloadPercent ?? 0;
    const workload = workloads > 0 && r(6) % 100 < percent ? r(7) % workloads : -1;
    return {
      source: `slurm:cluster-${index % 3}`,
      externalId: `job-${index.toString(36)}-${(r(8) % 1296).toString(36)}`,
      allocation,
      workload,
      gpus,
      startMs,
      endMs: startMs + durationMs,
    };
  }

  /** What the ledger must show, computed here from the records (gpus × ceil(ms / 1000), bigint). */
  expected(): UsageExpectation {
    const perAllocation = this.allocations.map(() => ({ gpuSeconds: 0n, records: 0 }));
    const perWorkload = this.workloadsPer.map((count) => Array.from({ length: count }, () => 0n));
    let total = 0n;
    let midnightCrossings = 0;
    let edgeRecords = 0;
    for (let index = 0; index < this.records; index += 1) {
      const record = this.record(index);
      const ms = record.endMs - record.startMs;
      const gpuSeconds = big(record.gpus) * big(ceil(ms / 1000));
      total += gpuSeconds;
      const bucket = perAllocation[record.allocation];
      bucket.gpuSeconds += gpuSeconds;
      bucket.records += 1;
      if (record.workload >= 0) perWorkload[record.allocation][record.workload] += gpuSeconds;
      const startDay = floor((record.startMs + SEOUL_OFFSET_MS) / DAY_MS);
      // The last metered second (whole seconds from the one the record started in) decides the day.
      const lastSecondMs = (floor(record.startMs / 1000) + ceil(ms / 1000) - 1) * 1000;
      if (floor((lastSecondMs + SEOUL_OFFSET_MS) / DAY_MS) !== startDay) midnightCrossings += 1;
      if (ms <= 60_001) edgeRecords += 1;
    }
    return { records: this.records, total, perAllocation, perWorkload, midnightCrossings, edgeRecords };
  }
}

export interface UsageExpectation {
  records: number;
  total: bigint;
  perAllocation: { gpuSeconds: bigint; records: number }[];
  /** [allocation][workload] → GPU-seconds of the records naming that workload. */
  perWorkload: bigint[][];
  midnightCrossings: number;
  edgeRecords: number;
}

/** Ids the records are sent with, by index. */
export interface LoadIds {
  allocationIds: string[];
  gpuModels: string[];
  /** [allocation][workload] → workload id. */
  workloadIds: string[][];
}

function recordBody(load: UsageLoad, ids: LoadIds, index: number): Record<string, unknown> {
  const record = load.record(index);
  const body: Record<string, unknown> = {
    source: record.source,
    externalId: record.externalId,
    allocationId: ids.allocationIds[record.allocation],
    gpuModel: ids.gpuModels[record.allocation],
    gpus: record.gpus,
    startedAt: new IsoDate(record.startMs).toISOString(),
    endedAt: new IsoDate(record.endMs).toISOString(),
  };
  if (record.workload >= 0) body.workloadId = ids.workloadIds[record.allocation][record.workload];
  return body;
}

// ---------------------------------------------------------------------------------------------
// Seeding: granted allocations (through the grant service), optionally admitted workloads
// ---------------------------------------------------------------------------------------------

export interface SeededProject {
  projectId: string;
  programId: string;
  allocationIds: string[];
}

/**
 * Projects, each with one approved request whose lines (one per GPU model) the real grant service
 * turns into allocations; windows from 60 days ago to 120 days ahead so every record starts inside.
 * `grantedGpuSeconds[p][m]` is what line m of project p is granted (whole GPU-hours are required by
 * the fixture: rounded up).
 */
export async function seedProjects(
  dataSource: DataSource,
  models: string[],
  grantedGpuSeconds: bigint[][],
): Promise<SeededProject[]> {
  const grants = grantUseCase(dataSource);
  const projects: SeededProject[] = [];
  for (const granted of grantedGpuSeconds) {
    const hours = granted.map((seconds) => (seconds + 3599n) / 3600n);
    const budget = hours.reduce((max, value) => (value > max ? value : max), 0n) * 2n + 1_000n;
    const fixture = await seedApprovedRequest(dataSource, {
      models,
      grantedGpuHours: hours,
      budgetGpuHours: budget,
      maxConcurrentGpus: 64,
      startsAt: new Date(Date.now() - 60 * DAY_MS),
      endsAt: new Date(Date.now() + 120 * DAY_MS),
    });
    const outcome = await grants.execute(fixture.requestId);
    if (outcome.outcome !== 'granted') throw new Error(`grant failed: ${outcome.outcome}`);
    // allocationIds come in line order (one line per model).
    const rows = await dataSource.query<{ id: string; gpu_model: string }[]>(
      `SELECT a.id, a.gpu_model FROM allocations a JOIN allocation_request_lines l ON l.id = a.request_line_id
        WHERE a.request_id = $1 ORDER BY l.line_no`,
      [fixture.requestId],
    );
    if (rows.length !== models.length) throw new Error(`expected ${models.length} allocations`);
    projects.push({
      projectId: fixture.projectId,
      programId: fixture.programId,
      allocationIds: rows.map((row) => row.id),
    });
  }
  return projects;
}

export interface UsageWorld {
  load: UsageLoad;
  expected: UsageExpectation;
  ids: LoadIds;
  granted: Map<string, bigint>;
  expectedComputeMs: number;
}

/**
 * The world the records are metered against: `projects` projects, each with one allocation per GPU
 * model (granted 150% of what its records will use; the A100 ones 60%: overdraft), and
 * `workloadsPerH200` one-GPU workloads on each H200 allocation admitted by the real schedulers (so
 * they hold quota and part of their usage comes out of the hold; 3% of those allocations' records
 * name one of them). The schedulers must be running on `redisUrl`/`prefix`.
 */
export async function seedUsageWorld(
  dataSource: DataSource,
  options: {
    seed: number;
    records: number;
    models: string[];
    projects: number;
    workloadsPerH200: number;
    redisUrl: string;
    prefix: string;
  },
): Promise<UsageWorld> {
  const { models } = options;
  const allocations = Array.from({ length: options.projects }, () =>
    models.map((gpuModel) => ({ gpuModel, workloadPercent: gpuModel === 'H200' ? 3 : 0 })),
  ).flat();
  const workloadsPer = allocations.map((a) => (a.gpuModel === 'H200' ? options.workloadsPerH200 : 0));
  const load = new UsageLoad(options.seed, options.records, allocations, workloadsPer, Date.now());
  const computeStarted = Date.now();
  const expected = load.expected();
  const expectedComputeMs = Date.now() - computeStarted;

  const grants = Array.from({ length: options.projects }, (_, p) =>
    models.map((model, m) => {
      const used = expected.perAllocation[p * models.length + m].gpuSeconds;
      return model === 'A100' ? (used * 6n) / 10n : (used * 15n) / 10n;
    }),
  );
  const projects = await seedProjects(dataSource, models, grants);
  const allocationIds = projects.flatMap((project) => project.allocationIds);
  const granted = await grantedOf(dataSource, allocationIds);

  const workloadIds: string[][] = allocations.map(() => []);
  const h200 = models.indexOf('H200');
  if (h200 >= 0 && options.workloadsPerH200 > 0) {
    await seedPool(dataSource, { gpuModel: 'H200', nodes: 4, gpusPerNode: 8, domains: 1 });
    for (const [p, project] of projects.entries()) {
      const quota = {
        allocationId: project.allocationIds[h200],
        projectId: project.projectId,
        programId: project.programId,
      };
      workloadIds[p * models.length + h200] = await submitWorkloads(
        dataSource,
        'H200',
        Array.from({ length: options.workloadsPerH200 }, (_, w) => ({
          quota,
          gpus: 1,
          // Long enough that no hold is released or declared lost while the test runs.
          walltimeSeconds: 7 * 24 * 3600,
          simulatedRuntimeSeconds: 3600,
          name: `metered-${p}-${w}`,
        })),
      );
    }
    await enqueueJobs(options.redisUrl, options.prefix, [
      { name: 'schedule.cycle', data: { gpuModel: 'H200' } },
    ]);
    const want = options.projects * options.workloadsPerH200;
    await waitFor(
      `the ${want} workloads to be admitted (holding quota)`,
      async () => {
        const [row] = await dataSource.query<{ held: number }[]>(
          `SELECT count(*)::int AS held FROM workloads w JOIN workload_holds h ON h.workload_id = w.id
            WHERE w.state IN ('admitted', 'running')`,
        );
        return row.held === want;
      },
      60_000,
    );
  }
  return {
    load,
    expected,
    ids: { allocationIds, gpuModels: allocations.map((a) => a.gpuModel), workloadIds },
    granted,
    expectedComputeMs,
  };
}

/** Sum of the grant postings into each allocation (what it was given). */
export async function grantedOf(
  dataSource: DataSource,
  allocationIds: string[],
): Promise<Map<string, bigint>> {
  const rows = await dataSource.query<{ id: string; granted: string }[]>(
    `SELECT a.id, coalesce(sum(e.amount) FILTER (WHERE t.kind = 'grant' AND e.amount > 0), 0)::text AS granted
       FROM allocations a
       LEFT JOIN ledger_entries e ON e.account = 'allocation:' || a.id
       LEFT JOIN ledger_transactions t ON t.id = e.transaction_id
      WHERE a.id = ANY($1::uuid[]) GROUP BY a.id`,
    [allocationIds],
  );
  return new Map(rows.map((row) => [row.id, BigInt(row.granted)]));
}

// ---------------------------------------------------------------------------------------------
// The API over real HTTP, and the scheduler processes
// ---------------------------------------------------------------------------------------------

export interface UsageApi {
  baseUrl: string;
  databaseUrl: string;
  adminToken: string;
  process: ChildProcess;
  /** The API's own log (level warn and up): what a 5xx answer's errorId was. */
  logFile: string;
  /** The logged cause of an answer's errorId (`message @ first gpupool frame`), if found. */
  explain(answer: HttpAnswer): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * The real API as its own process (the built `dist/apps/api/src/main.js`, as deployed) on a
 * loopback port, its queue on the given Redis and prefix, with the bootstrap admin logged in. Its
 * own process rather than the in-process harness (startApi): its log (warn and up, in a temp file)
 * tells the cause of every 5xx answer (`explain`), and a crash shows as an exit. Throughput is the
 * same either way (measured at 200,000 records: 13,233 sends/s here, 12,521 in-process; PostgreSQL
 * on 2 cores is the bottleneck).
 */
export async function startUsageApi(options: {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  poolSize?: number;
}): Promise<UsageApi> {
  const env = {
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    QUEUE_BACKEND: 'redis',
    QUEUE_PREFIX: options.prefix,
    DATABASE_POOL_SIZE: String(options.poolSize ?? 8),
    GPUPOOL_ADMIN_EMAIL: ADMIN_EMAIL,
    GPUPOOL_ADMIN_PASSWORD: ADMIN_PASSWORD,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    // A load generator is one principal sending thousands of writes a second, on purpose.
    RATE_LIMITS: 'false',
  };
  await bootstrapAdmin(configFrom({ ...env, LOG_LEVEL: 'silent' }));
  const port = await freePort();
  const logFile = join(tmpdir(), `gpupool-usage-api-${process.pid}-${port}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['dist/apps/api/src/main.js'], {
    env: {
      ...process.env,
      // Stack traces of logged errors point at the TypeScript sources.
      NODE_OPTIONS: '--enable-source-maps',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', log, log],
  });
  reapOnExit(child);
  closeSync(log);
  const baseUrl = `http://127.0.0.1:${port}`;
  const login = await waitFor(
    'the API to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`the API exited with ${child.exitCode}`);
      const login = await postJson(baseUrl, '/v1/auth/login', null, {
        email: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
      });
      return login.status === 200 ? login : false;
    },
    60_000,
  );
  const adminToken = (login.json as { accessToken: string }).accessToken;
  const explain = async (answer: HttpAnswer): Promise<string | undefined> => {
    const errorId = (answer.json as { error?: { errorId?: string } } | undefined)?.error?.errorId;
    if (!errorId) return undefined;
    for (let tries = 0; tries < 5; tries += 1) {
      const line = (await readFile(logFile, 'utf8')).split('\n').find((entry) => entry.includes(errorId));
      if (line) {
        try {
          const err = (JSON.parse(line) as { err?: { message?: string; stack?: string } }).err;
          const frame = err?.stack
            ?.split('\n')
            .find((entry) => /\/(apps|libs)\//.test(entry))
            ?.replace(/^.*\/((apps|libs)\/[^)]*).*$/, '$1');
          return `${err?.message ?? 'unknown'}${frame ? ` @ ${frame}` : ''}`;
        } catch {
          return line.slice(0, 300);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return undefined;
  };
  return {
    baseUrl,
    databaseUrl: options.databaseUrl,
    adminToken,
    process: child,
    logFile,
    explain,
    close: async () => {
      await stopProcess(child);
      await rm(logFile, { force: true });
    },
  };
}

/** Enqueues jobs on the test's Redis and prefix (as the API would), then lets go of the connection. */
export async function enqueueJobs(redisUrl: string, prefix: string, jobs: JobItem[]): Promise<void> {
  const transport = new QueueTransport({ backend: 'redis', redisUrl, databaseUrl: '', prefix });
  const producer = new JobProducer(transport);
  try {
    await producer.enqueueMany(jobs);
  } finally {
    await producer.close();
    await transport.close();
  }
}

/** An API token of scope `usage:write` only (what a cluster agent that meters usage holds). */
export async function usageToken(api: UsageApi): Promise<string> {
  const created = await postJson(api.baseUrl, '/v1/api-tokens', api.adminToken, {
    name: `usage meter ${randomBytes(3).toString('hex')}`,
    scopes: ['usage:write'],
  });
  if (created.status !== 201) throw new Error(`token: ${created.status} ${created.text}`);
  return (created.json as { token: string }).token;
}

/** Environment of a scheduler process on this test's database, Redis and queue prefix. */
export function schedulerEnv(options: {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    QUEUE_BACKEND: 'redis',
    QUEUE_PREFIX: options.prefix,
    DATABASE_POOL_SIZE: '6',
    RECONCILE_INTERVAL_MS: '1000',
    RECONCILE_GRACE_MS: '20000',
    ...options.extra,
  };
}

/** A set of scheduler processes that can be killed and replaced. */
export class Schedulers {
  readonly children: ChildProcess[] = [];
  constructor(private readonly env: Record<string, string>) {}

  start(count = 1): ChildProcess[] {
    const started = Array.from({ length: count }, () => startSchedulerProcess(this.env));
    this.children.push(...started);
    return started;
  }

  running(): ChildProcess[] {
    return this.children.filter((child) => child.exitCode === null && child.signalCode === null);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.children.map((child) => stopProcess(child)));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP clients
// ---------------------------------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

export interface HttpAnswer {
  status: number;
  text: string;
  json: unknown;
}

export function postJson(
  baseUrl: string,
  path: string,
  token: string | null,
  body: unknown,
  timeoutMs = 120_000,
): Promise<HttpAnswer> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}${path}`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = undefined;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface IngestAnswer {
  accepted: number;
  duplicates: number;
  rejected: { index: number; code: string; message: string }[];
  batchId: string | null;
}

export interface SendStats {
  sends: number;
  batches: number;
  requests: number;
  /** Attempts answered 5xx or lost to a connection error, then retried (a resend is harmless). */
  retries: number;
  retryReasons: Map<string, number>;
  accepted: number;
  duplicates: number;
  rejected: { batch: number; index: number; code: string; message: string }[];
  /** batchId of every answer that had one. */
  batchIds: Set<string>;
  startedAt: number;
  finishedAt: number;
}

/**
 * Sends every record twice, the 2N sends shuffled (seeded), in batches of `batchSize`, from
 * `clients` concurrent loops pulling batch numbers from one shared counter. A batch answered 5xx
 * or lost to a connection error is sent again (with `retry`); any other non-202 fails the run.
 * `onBatch` sees progress (after each answered batch), e.g. to inject a fault mid-ingest.
 */
export async function sendTwiceShuffled(options: {
  api: { baseUrl: string; explain?: (answer: HttpAnswer) => Promise<string | undefined> };
  token: string;
  load: UsageLoad;
  ids: LoadIds;
  batchSize: number;
  clients: number;
  retry: boolean;
  onBatch?: (done: number, total: number) => void;
}): Promise<SendStats> {
  const { load, ids, batchSize } = options;
  const sends = load.records * 2;
  const order = new Uint32Array(sends);
  for (let index = 0; index < sends; index += 1) order[index] = index;
  const random = mulberry32(load.seed ^ 0x5eed);
  for (let index = sends - 1; index > 0; index -= 1) {
    const other = random() % (index + 1);
    const value = order[index];
    order[index] = order[other];
    order[other] = value;
  }
  const batches = Math.ceil(sends / batchSize);
  const stats: SendStats = {
    sends,
    batches,
    requests: 0,
    retries: 0,
    retryReasons: new Map(),
    accepted: 0,
    duplicates: 0,
    rejected: [],
    batchIds: new Set(),
    startedAt: Date.now(),
    finishedAt: 0,
  };
  let next = 0;
  let done = 0;
  const client = async (): Promise<void> => {
    for (;;) {
      const batch = next;
      next += 1;
      if (batch >= batches) return;
      const records: Record<string, unknown>[] = [];
      for (
        let position = batch * batchSize;
        position < Math.min(sends, (batch + 1) * batchSize);
        position += 1
      ) {
        records.push(recordBody(load, ids, order[position] % load.records));
      }
      const payload = JSON.stringify({ records });
      records.length = 0;
      for (let attempt = 1; ; attempt += 1) {
        let answer: HttpAnswer | undefined;
        let failure: string;
        try {
          stats.requests += 1;
          answer = await postJson(options.api.baseUrl, '/v1/usage/records', options.token, payload);
          failure = `HTTP ${answer.status}`;
          if (answer.status >= 500) {
            const cause = await options.api.explain?.(answer);
            if (cause) failure += `: ${cause}`;
          }
        } catch (error) {
          failure = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        }
        if (answer?.status === 202) {
          const body = answer.json as IngestAnswer;
          stats.accepted += body.accepted;
          stats.duplicates += body.duplicates;
          for (const rejection of body.rejected) stats.rejected.push({ batch, ...rejection });
          if (body.batchId) stats.batchIds.add(body.batchId);
          break;
        }
        const retryable = answer === undefined || answer.status >= 500;
        if (!options.retry || !retryable || attempt >= 200) {
          throw new Error(
            `batch ${batch} attempt ${attempt}: ${failure}${answer ? ` ${answer.text.slice(0, 500)}` : ''}`,
          );
        }
        stats.retries += 1;
        stats.retryReasons.set(failure, (stats.retryReasons.get(failure) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * attempt)));
      }
      done += 1;
      options.onBatch?.(done, batches);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, () => client()));
  stats.finishedAt = Date.now();
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Waiting and checking
// ---------------------------------------------------------------------------------------------

export async function unpostedBatches(dataSource: DataSource): Promise<number> {
  const [row] = await dataSource.query<{ open: number }[]>(
    'SELECT count(*)::int AS open FROM usage_batches WHERE posted_at IS NULL',
  );
  return row?.open ?? -1;
}

/** Until no stored batch waits for its posting (queries that fail, e.g. during a restart, are retried). */
export async function waitUntilAllPosted(dataSource: DataSource, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor(
    'every usage batch to be posted',
    async () => (await unpostedBatches(dataSource)) === 0,
    timeoutMs,
  );
  return Date.now() - started;
}

export interface ExactlyOnceFacts {
  records: number;
  gpuSeconds: bigint;
  batches: number;
  acceptedInBatches: number;
  consumeTransactions: number;
  unbalancedTransactions: number;
  accountMismatches: number;
  drifts: number;
  driftCheckMs: number;
}

/**
 * The checks every scenario ends with: nothing lost, nothing doubled, ledger balanced, balances =
 * sums, rollups = records, 0 drift. Uses Jest's `expect`; returns the facts for the log.
 */
export async function expectExactlyOnce(
  dataSource: DataSource,
  expected: UsageExpectation,
  ids: LoadIds,
  stats: SendStats,
  options: { granted: Map<string, bigint>; allowUnansweredBatches?: boolean },
): Promise<ExactlyOnceFacts> {
  const n = expected.records;
  // Every send answered once, nothing refused.
  expect(stats.rejected).toEqual([]);
  expect(stats.accepted + stats.duplicates).toBe(2 * n);

  // Batches: each stored batch is posted; what the answers accepted plus what batches nobody saw an
  // answer for (a commit whose answer was lost to a restart) is exactly N.
  const batches = await dataSource.query<{ id: string; accepted_count: number; posted: boolean }[]>(
    'SELECT id::text, accepted_count, posted_at IS NOT NULL AS posted FROM usage_batches',
  );
  expect(batches.filter((batch) => !batch.posted)).toEqual([]);
  const stored = new Set(batches.map((batch) => batch.id));
  expect([...stats.batchIds].filter((id) => !stored.has(id))).toEqual([]);
  const unanswered = batches.filter((batch) => !stats.batchIds.has(batch.id));
  const unansweredAccepted = unanswered.reduce((sum, batch) => sum + batch.accepted_count, 0);
  if (!options.allowUnansweredBatches) {
    expect(unanswered).toEqual([]);
    expect(stats.accepted).toBe(n);
    expect(stats.duplicates).toBe(n);
  }
  expect(stats.accepted + unansweredAccepted).toBe(n);
  const acceptedInBatches = batches.reduce((sum, batch) => sum + batch.accepted_count, 0);
  expect(acceptedInBatches).toBe(n);

  // Records: exactly N, exactly the GPU-seconds computed here.
  const [totals] = await dataSource.query<{ records: string; gpu_seconds: string; keys: string }[]>(
    `SELECT count(*)::text AS records, coalesce(sum(gpu_seconds), 0)::text AS gpu_seconds,
            count(DISTINCT (source, external_id))::text AS keys FROM usage_records`,
  );
  expect(Number(totals.records)).toBe(n);
  expect(Number(totals.keys)).toBe(n);
  expect(BigInt(totals.gpu_seconds)).toBe(expected.total);

  // Per allocation: records, consumed balance (kept and recomputed), rollups; conservation.
  const rows = await dataSource.query<
    {
      id: string;
      records: string;
      recorded: string;
      consumed_kept: string | null;
      consumed_sum: string | null;
      allocation_kept: string | null;
      hold_kept: string | null;
      daily: string | null;
      daily_records: string | null;
    }[]
  >(
    `SELECT a.id::text AS id,
            (SELECT count(*) FROM usage_records u WHERE u.allocation_id = a.id)::text AS records,
            (SELECT coalesce(sum(gpu_seconds), 0) FROM usage_records u WHERE u.allocation_id = a.id)::text AS recorded,
            (SELECT balance FROM account_balances WHERE account = 'consumed:' || a.id)::text AS consumed_kept,
            (SELECT sum(amount) FROM ledger_entries WHERE account = 'consumed:' || a.id)::text AS consumed_sum,
            (SELECT balance FROM account_balances WHERE account = 'allocation:' || a.id)::text AS allocation_kept,
            (SELECT balance FROM account_balances WHERE account = 'hold:' || a.id)::text AS hold_kept,
            (SELECT sum(gpu_seconds) FROM usage_daily d WHERE d.allocation_id = a.id)::text AS daily,
            (SELECT sum(records) FROM usage_daily d WHERE d.allocation_id = a.id)::text AS daily_records
       FROM allocations a WHERE a.id = ANY($1::uuid[])`,
    [ids.allocationIds],
  );
  const byId = new Map(rows.map((row) => [row.id, row]));
  const perAllocation = ids.allocationIds.map((id, index) => {
    const row = byId.get(id);
    const want = expected.perAllocation[index];
    return {
      id,
      records: Number(row?.records),
      recorded: BigInt(row?.recorded ?? -1),
      consumedKept: BigInt(row?.consumed_kept ?? 0),
      consumedSum: BigInt(row?.consumed_sum ?? 0),
      daily: BigInt(row?.daily ?? 0),
      dailyRecords: Number(row?.daily_records ?? 0),
      conserved:
        BigInt(row?.allocation_kept ?? 0) + BigInt(row?.hold_kept ?? 0) + BigInt(row?.consumed_kept ?? 0),
      want,
    };
  });
  expect(
    perAllocation.map((a) => ({
      id: a.id,
      records: a.records,
      recorded: a.recorded,
      consumedKept: a.consumedKept,
      consumedSum: a.consumedSum,
      daily: a.daily,
      dailyRecords: a.dailyRecords,
      conserved: a.conserved,
    })),
  ).toEqual(
    perAllocation.map((a) => ({
      id: a.id,
      records: a.want.records,
      recorded: a.want.gpuSeconds,
      consumedKept: a.want.gpuSeconds,
      consumedSum: a.want.gpuSeconds,
      daily: a.want.gpuSeconds,
      dailyRecords: a.want.records,
      // allocation + hold + consumed = granted: usage only moved GPU-seconds inside the allocation.
      conserved: options.granted.get(a.id) ?? -1n,
    })),
  );

  // Workloads named by records: consumed counters and hold metering = their records.
  const workloadIds = ids.workloadIds.flat();
  if (workloadIds.length > 0) {
    const wrows = await dataSource.query<
      { id: string; consumed: string; metered: string | null; recorded: string }[]
    >(
      `SELECT w.id::text, w.consumed_gpu_seconds::text AS consumed,
              (SELECT sum(metered_gpu_seconds) FROM workload_holds h WHERE h.workload_id = w.id)::text AS metered,
              (SELECT coalesce(sum(gpu_seconds), 0) FROM usage_records u WHERE u.workload_id = w.id)::text AS recorded
         FROM workloads w WHERE w.id = ANY($1::uuid[])`,
      [workloadIds],
    );
    const wById = new Map(wrows.map((row) => [row.id, row]));
    const got = ids.workloadIds.flatMap((list) =>
      list.map((id) => {
        const row = wById.get(id);
        return {
          id,
          consumed: BigInt(row?.consumed ?? -1),
          metered: BigInt(row?.metered ?? 0),
          recorded: BigInt(row?.recorded ?? -1),
        };
      }),
    );
    const want = ids.workloadIds.flatMap((list, a) =>
      list.map((id, w) => ({
        id,
        consumed: expected.perWorkload[a][w],
        metered: expected.perWorkload[a][w],
        recorded: expected.perWorkload[a][w],
      })),
    );
    expect(got).toEqual(want);
    // The hold account of each allocation = what its attempts still hold.
    const holds = await dataSource.query<{ id: string; kept: string | null; remaining: string | null }[]>(
      `SELECT a.id::text,
              (SELECT balance FROM account_balances WHERE account = 'hold:' || a.id)::text AS kept,
              (SELECT sum(remaining_gpu_seconds) FROM workload_holds h WHERE h.allocation_id = a.id)::text AS remaining
         FROM allocations a WHERE a.id = ANY($1::uuid[])`,
      [ids.allocationIds],
    );
    expect(holds.filter((row) => BigInt(row.kept ?? 0) !== BigInt(row.remaining ?? 0))).toEqual([]);
  }

  // Invariant 1: every transaction sums to zero; every kept balance = the sum of its entries.
  const [ledger] = await dataSource.query<
    { unbalanced: number; mismatched: number; consumes: number; duplicate_keys: number }[]
  >(
    `SELECT
       (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
          HAVING sum(amount) <> 0) x)::int AS unbalanced,
       (SELECT count(*) FROM (SELECT account, sum(amount) AS s FROM ledger_entries GROUP BY account) s
          FULL JOIN account_balances b USING (account) WHERE b.balance IS DISTINCT FROM s.s)::int AS mismatched,
       (SELECT count(*) FROM ledger_transactions WHERE kind = 'consume' AND idempotency_key LIKE 'usage:%')::int AS consumes,
       (SELECT count(*) - count(DISTINCT idempotency_key) FROM ledger_transactions)::int AS duplicate_keys`,
  );
  expect({
    unbalanced: ledger.unbalanced,
    mismatched: ledger.mismatched,
    duplicateKeys: ledger.duplicate_keys,
  }).toEqual({
    unbalanced: 0,
    mismatched: 0,
    duplicateKeys: 0,
  });
  // Consumption is only ever posted by usage postings, each of one stored batch.
  const [orphans] = await dataSource.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM ledger_transactions t
      WHERE t.kind = 'consume' AND NOT EXISTS (
        SELECT 1 FROM usage_batches b WHERE t.idempotency_key LIKE 'usage:' || b.id::text || ':%')`,
  );
  expect(orphans.n).toBe(0);

  // The drift check the sweep runs: nothing.
  const started = Date.now();
  const report = await reconcileUsageAndBalances(dataSource);
  const driftCheckMs = Date.now() - started;
  expect({
    accountDrifts: report.accountDrifts,
    rollupDrifts: report.rollupDrifts,
    usageDrifts: report.usageDrifts,
    drifts: report.drifts,
  }).toEqual({ accountDrifts: 0, rollupDrifts: 0, usageDrifts: 0, drifts: [] });
  // …and no drift check that ran during the ingest found any either.
  const [earlier] = await dataSource.query<{ reports: number; drifting: number }[]>(
    `SELECT count(*)::int AS reports,
            count(*) FILTER (WHERE account_drifts + rollup_drifts + usage_drifts > 0)::int AS drifting
       FROM reconciliation_reports`,
  );
  expect(earlier.drifting).toBe(0);

  return {
    records: n,
    gpuSeconds: expected.total,
    batches: batches.length,
    acceptedInBatches,
    consumeTransactions: ledger.consumes,
    unbalancedTransactions: ledger.unbalanced,
    accountMismatches: ledger.mismatched,
    drifts: report.accountDrifts + report.rollupDrifts + report.usageDrifts,
    driftCheckMs,
  };
}

/** One line of JSON for the log (bigint as strings). */
export function logLine(value: unknown): void {
  console.log(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

// ---------------------------------------------------------------------------------------------
// Fault helpers
// ---------------------------------------------------------------------------------------------

/** Local TCP ports of a process's sockets (Linux /proc): which PostgreSQL sessions are its. */
async function localPortsOf(pid: number): Promise<Set<number>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]);
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && inodes.has(fields[9])) ports.add(parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports;
}

/** Statements of `postUsageBatch` (the drift check's read-only `WITH …` queries excluded). */
const POSTING_STATEMENT =
  /FROM usage_batches WHERE id = \$1 FOR NO KEY UPDATE|FROM usage_records WHERE batch_id|FOR NO KEY UPDATE OF a|INSERT INTO ledger_|INSERT INTO usage_daily|UPDATE usage_batches SET posted_at|UPDATE workload_holds h/;

/**
 * Waits until one of the given scheduler processes is inside a usage posting transaction (one of
 * its PostgreSQL sessions has an open transaction whose statement is a posting's), and returns
 * it. Undefined if none was caught within the timeout.
 */
export async function schedulerMidPosting(
  dataSource: DataSource,
  candidates: ChildProcess[],
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; query: string } | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sessions = await dataSource
      .query<{ client_port: number; query: string }[]>(
        `SELECT client_port, query FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'gpupool-scheduler'
            AND xact_start IS NOT NULL AND state IN ('active', 'idle in transaction')`,
      )
      .catch(() => []);
    const posting = sessions.filter((session) => POSTING_STATEMENT.test(session.query));
    if (posting.length > 0) {
      for (const child of candidates) {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
        const ports = await localPortsOf(child.pid);
        const hit = posting.find((session) => ports.has(session.client_port));
        if (hit) return { child, query: hit.query.replace(/\s+/g, ' ').slice(0, 120) };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}

/** BullMQ's event stream of a queue: jobs found stalled, failed (and why), adds ignored as duplicates. */
export async function queueEvents(
  redisUrl: string,
  prefix: string,
  queue: string,
): Promise<{ stalled: string[]; failed: { jobId: string; reason: string }[]; duplicated: string[] }> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const entries = (await client.xrange(`${prefix}:${queue}:events`, '-', '+')) as [string, string[]][];
    const stalled: string[] = [];
    const failed: { jobId: string; reason: string }[] = [];
    const duplicated: string[] = [];
    for (const [, fields] of entries) {
      const event: Record<string, string> = {};
      for (let index = 0; index + 1 < fields.length; index += 2) event[fields[index]] = fields[index + 1];
      if (event.event === 'stalled') stalled.push(event.jobId);
      if (event.event === 'failed') failed.push({ jobId: event.jobId, reason: event.failedReason });
      // An add ignored because a job with that id still exists (e.g. a sweep's re-enqueue).
      if (event.event === 'duplicated') duplicated.push(event.jobId);
    }
    return { stalled, failed, duplicated };
  } finally {
    client.disconnect();
  }
}

/** A producer on the test's Redis and prefix, to look at (and add to) the queues the processes use. */
export function openQueues(
  redisUrl: string,
  prefix: string,
): { producer: JobProducer; close(): Promise<void> } {
  const transport = new QueueTransport({ backend: 'redis', redisUrl, databaseUrl: '', prefix });
  const producer = new JobProducer(transport);
  return {
    producer,
    close: async () => {
      await producer.close();
      await transport.close();
    },
  };
}
