/**
 * bench:usage — usage ingestion end to end beside a raw COPY of the same rows, in one run.
 *
 *   npm run bench:usage -- [--records 1000000] [--clients 4] [--allocations 16] [--write]
 *     [--scheduler-cpu-prof DIR]   (a V8 CPU profile of the scheduler process, for where posting goes)
 *
 * (a) gpupool: R records sent to POST /v1/usage/records in calls of 10,000 from C concurrent clients
 *     (API token of scope `usage:write`), stored by the API, posted to the ledger and rollups by ONE
 *     scheduler process (`usage.post`). Throughput runs from the first send to the last batch whose
 *     posting is visible; latency per batch from the API's 202 to that moment.
 * (b) baseline: the same rows, same columns as usage_records, COPY FROM STDIN (text format, one COPY
 *     per 10,000 rows from C connections) into a plain logged table with no index, key, foreign key
 *     or trigger (only usage_records' NOT NULLs), in the same database. Beside it, for reference,
 *     the production statement's shape into such a table: INSERT … SELECT FROM unnest(…) per 10,000.
 * Request bodies and COPY text are built before the clock starts (the agents' cost is not ours);
 * the clients run on a worker thread so that the API, in this process's main thread (where it can be
 * timed from inside), has its event loop to itself.
 *
 * Records are a pure function of their index (allocation, GPUs, start offset, duration), on a time
 * axis anchored at the start of the UTC day three weeks back; no workload ids (reserved servers), so
 * the posting takes the allocation path, not the hold path. With --write: test/bench/results/
 * usage-<date>.{json,md}. Uses the local PostgreSQL and Redis with a throwaway database and queue
 * prefix, both removed at the end, also when the run fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pg from 'pg';
import type { GpupoolConfig } from '#config';

/** One call's worth (MAX_USAGE_RECORDS_PER_CALL of apps/api/src/usage/dto/usage-records.request.ts). */
const BATCH = 10_000;
const SOURCE = 'slurm:bench';
const WARMUP_SOURCE = 'slurm:bench-warmup';
const WARMUP_CALLS = 3;
const GPU_MODEL = 'H200';
const DAY_MS = 24 * 3600 * 1000;
const RUN_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 25;
const COPY_COLUMNS =
  'id, batch_id, source, external_id, allocation_id, workload_id, attempt, gpu_model, gpus, started_at, ended_at, gpu_seconds, late, received_at';

/** Milliseconds since the epoch, sub-millisecond, comparable across threads and with PostgreSQL's clock. */
const now = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// The records: a pure function of the index.

interface GeneratedRecord {
  externalId: string;
  allocationId: string;
  gpus: number;
  startedAt: string;
  endedAt: string;
  gpuSeconds: number;
}

/** A 32-bit integer hash (murmur3's finalizer): the same index always gives the same record. */
function mix(index: number, salt: number): number {
  let h = (index ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function recordAt(index: number, anchorMs: number, allocationIds: readonly string[]): GeneratedRecord {
  const gpus = 1 + (mix(index, 1) % 8);
  const durationSeconds = 60 + (mix(index, 2) % (6 * 3600));
  const startedMs = anchorMs + (mix(index, 3) % (20 * 24 * 3600)) * 1000;
  return {
    externalId: `job-${index}`,
    allocationId: allocationIds[index % allocationIds.length] ?? '',
    gpus,
    startedAt: new Date(startedMs).toISOString(),
    endedAt: new Date(startedMs + durationSeconds * 1000).toISOString(),
    gpuSeconds: gpus * durationSeconds,
  };
}

function batchRange(batch: number, records: number): { from: number; to: number } {
  return { from: batch * BATCH, to: Math.min(records, (batch + 1) * BATCH) };
}

/** Where a batch's first record says it comes from: the key both the client and the API side use. */
function batchKey(source: string, firstExternalId: string): string {
  return `${source}#${Math.floor(Number(firstExternalId.slice('job-'.length)) / BATCH)}`;
}

// ---------------------------------------------------------------------------------------------
// Worker thread: the clients (HTTP senders, COPY and INSERT baselines).

interface Shape {
  databaseUrl: string;
  records: number;
  clients: number;
  anchorMs: number;
  allocationIds: string[];
}

type BaselineInput = { phase: 'copy' | 'insert'; table: string } & Shape;
type IngestInput = {
  phase: 'ingest';
  baseUrl: string;
  token: string;
  source: string;
  waitPosted: boolean;
} & Shape;
type PhaseInput = BaselineInput | IngestInput;

interface BaselineOutput {
  seconds: number;
  rows: number;
  batchMs: number[];
  clientLoopUtilization: number;
}

interface BatchOutcome {
  key: string;
  sentAt: number;
  answeredAt: number;
  status: number;
  batchId: string | null;
  accepted: number;
  rejected: number;
  /** Start of the first poll that saw posted_at set (polls every POLL_MS): when the posting is visible. */
  visibleAt: number | null;
  receivedAt: number | null;
  postedAt: number | null;
}

interface IngestOutput {
  startedAt: number;
  outcomes: BatchOutcome[];
  clientLoopUtilization: number;
}

/**
 * COPY … FROM STDIN through node-postgres without pg-copy-streams (not installed): a Submittable
 * that answers the server's CopyInResponse with the prepared text and CopyDone. node-postgres calls
 * these hooks on the active query; `sendCopyFromChunk` and `endCopyFrom` are its Connection's own.
 */
class CopyFromBuffer implements pg.Submittable {
  readonly done: Promise<number>;
  private resolve: (rows: number) => void = () => undefined;
  private reject: (error: Error) => void = () => undefined;
  private rows = 0;

  constructor(
    private readonly text: string,
    private readonly data: Buffer,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: pg.Connection): void {
    const copy = connection as pg.Connection & {
      sendCopyFromChunk(chunk: Buffer): void;
      endCopyFrom(): void;
    };
    for (let offset = 0; offset < this.data.length; offset += 64 * 1024) {
      copy.sendCopyFromChunk(this.data.subarray(offset, offset + 64 * 1024));
    }
    copy.endCopyFrom();
  }

  handleCommandComplete(message: { text: string }): void {
    this.rows = Number(message.text.split(' ').pop());
  }

  handleReadyForQuery(): void {
    this.resolve(this.rows);
  }

  // After an ErrorResponse the client drops this query before ReadyForQuery: settle here.
  handleError(error: Error): void {
    this.reject(error);
  }
}

async function connectAll(url: string, count: number): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'gpupool-bench-usage' });
      await client.connect();
      return client;
    }),
  );
}

/** C connections, each taking the next batch until none is left; returns each batch's time. */
async function timedBatches(
  clients: pg.Client[],
  batches: number,
  run: (client: pg.Client, batch: number) => Promise<void>,
): Promise<{ seconds: number; batchMs: number[]; clientLoopUtilization: number }> {
  const batchMs: number[] = new Array<number>(batches).fill(0);
  const loop = performance.eventLoopUtilization();
  const started = now();
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (next < batches) {
        const batch = next++;
        const begun = now();
        await run(client, batch);
        batchMs[batch] = now() - begun;
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  return { seconds, batchMs, clientLoopUtilization: performance.eventLoopUtilization(loop).utilization };
}

async function copyPhase(input: BaselineInput): Promise<BaselineOutput> {
  const batches = Math.ceil(input.records / BATCH);
  const receivedAt = new Date().toISOString();
  const texts: Buffer[] = [];
  for (let batch = 0; batch < batches; batch++) {
    const batchId = randomUUID();
    const { from, to } = batchRange(batch, input.records);
    const lines: string[] = [];
    for (let index = from; index < to; index++) {
      const r = recordAt(index, input.anchorMs, input.allocationIds);
      lines.push(
        `${index + 1}\t${batchId}\t${SOURCE}\t${r.externalId}\t${r.allocationId}\t\\N\t\\N\t${GPU_MODEL}\t${r.gpus}\t${r.startedAt}\t${r.endedAt}\t${r.gpuSeconds}\tf\t${receivedAt}\n`,
      );
    }
    texts.push(Buffer.from(lines.join('')));
  }
  const clients = await connectAll(input.databaseUrl, input.clients);
  let rows = 0;
  try {
    const timed = await timedBatches(clients, batches, async (client, batch) => {
      const copy = client.query(
        new CopyFromBuffer(
          `COPY ${input.table} (${COPY_COLUMNS}) FROM STDIN`,
          texts[batch] ?? Buffer.alloc(0),
        ),
      );
      const copied = await copy.done;
      rows += copied;
      texts[batch] = Buffer.alloc(0);
    });
    return { ...timed, rows };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

async function insertPhase(input: BaselineInput): Promise<BaselineOutput> {
  const batches = Math.ceil(input.records / BATCH);
  const receivedAt = new Date().toISOString();
  const params: unknown[][] = [];
  for (let batch = 0; batch < batches; batch++) {
    const { from, to } = batchRange(batch, input.records);
    const generated = Array.from({ length: to - from }, (_, offset) =>
      recordAt(from + offset, input.anchorMs, input.allocationIds),
    );
    params.push([
      randomUUID(),
      generated.map((_, offset) => from + offset + 1),
      generated.map(() => SOURCE),
      generated.map((r) => r.externalId),
      generated.map((r) => r.allocationId),
      generated.map(() => null),
      generated.map(() => null),
      generated.map(() => GPU_MODEL),
      generated.map((r) => r.gpus),
      generated.map((r) => r.startedAt),
      generated.map((r) => r.endedAt),
      generated.map((r) => r.gpuSeconds),
      generated.map(() => false),
      receivedAt,
    ]);
  }
  const clients = await connectAll(input.databaseUrl, input.clients);
  let rows = 0;
  try {
    const timed = await timedBatches(clients, batches, async (client, batch) => {
      // The shape of the usage_records insert (TypeormUsageBatchRepository.insertRecords), into a table without its indexes.
      const result = await client.query(
        `INSERT INTO ${input.table} (batch_id, id, source, external_id, allocation_id, workload_id, attempt, gpu_model,
                                     gpus, started_at, ended_at, gpu_seconds, late, received_at)
         SELECT $1, *, $14 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::int[],
                                       $8::text[], $9::int[], $10::timestamptz[], $11::timestamptz[], $12::bigint[],
                                       $13::boolean[])`,
        params[batch],
      );
      rows += result.rowCount ?? 0;
      params[batch] = [];
    });
    return { ...timed, rows };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

async function ingestPhase(input: IngestInput): Promise<IngestOutput> {
  const batches = Math.ceil(input.records / BATCH);
  const bodies: Buffer[] = [];
  const keys: string[] = [];
  for (let batch = 0; batch < batches; batch++) {
    const { from, to } = batchRange(batch, input.records);
    const records = [];
    for (let index = from; index < to; index++) {
      const r = recordAt(index, input.anchorMs, input.allocationIds);
      records.push({
        source: input.source,
        externalId: r.externalId,
        allocationId: r.allocationId,
        gpuModel: GPU_MODEL,
        gpus: r.gpus,
        startedAt: r.startedAt,
        endedAt: r.endedAt,
      });
    }
    keys.push(batchKey(input.source, records[0]?.externalId ?? 'job-0'));
    bodies.push(Buffer.from(JSON.stringify({ records })));
  }
  const url = new URL('/v1/usage/records', input.baseUrl);
  const outcomes: BatchOutcome[] = [];
  const db = new pg.Client({ connectionString: input.databaseUrl, application_name: 'gpupool-bench-poll' });
  await db.connect();
  try {
    const loop = performance.eventLoopUtilization();
    const startedAt = now();
    let next = 0;
    let sendsDone = false;
    let sendFailure: Error | undefined;
    const sending = Promise.all(
      Array.from({ length: input.clients }, async () => {
        while (next < batches) {
          const batch = next++;
          const key = keys[batch] ?? '';
          const sentAt = now();
          const response = await fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${input.token}`,
              'x-bench-batch': key,
            },
            body: bodies[batch],
          });
          const text = await response.text();
          const answeredAt = now();
          bodies[batch] = Buffer.alloc(0);
          const body = (text ? JSON.parse(text) : {}) as {
            accepted?: number;
            rejected?: unknown[];
            batchId?: string | null;
          };
          if (response.status !== 202) {
            process.stderr.write(`bench: ${key} answered ${response.status}: ${text.slice(0, 500)}\n`);
          }
          outcomes.push({
            key,
            sentAt,
            answeredAt,
            status: response.status,
            batchId: body.batchId ?? null,
            accepted: body.accepted ?? 0,
            rejected: body.rejected?.length ?? 0,
            visibleAt: null,
            receivedAt: null,
            postedAt: null,
          });
        }
      }),
    ).then(
      () => {
        sendsDone = true;
      },
      (error: unknown) => {
        sendFailure = error instanceof Error ? error : new Error(String(error));
        sendsDone = true;
      },
    );
    if (input.waitPosted) {
      const deadline = startedAt + RUN_TIMEOUT_MS;
      for (;;) {
        const polledAt = now();
        const posted = await db.query<{ id: string }>(
          'SELECT id FROM usage_batches WHERE posted_at IS NOT NULL',
        );
        const visible = new Set(posted.rows.map((row) => row.id));
        for (const outcome of outcomes) {
          if (outcome.batchId && outcome.visibleAt === null && visible.has(outcome.batchId)) {
            outcome.visibleAt = Math.max(polledAt, outcome.answeredAt);
          }
        }
        if (sendFailure !== undefined) throw sendFailure;
        if (sendsDone && outcomes.every((o) => o.batchId === null || o.visibleAt !== null)) break;
        if (now() > deadline) throw new Error(`batches not posted after ${RUN_TIMEOUT_MS / 60_000} minutes`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
    await sending;
    if (sendFailure !== undefined) throw sendFailure;
    const stored = await db.query<{ id: string; received_ms: number; posted_ms: number | null }>(
      `SELECT id, extract(epoch FROM received_at)::float8 * 1000 AS received_ms,
              extract(epoch FROM posted_at)::float8 * 1000 AS posted_ms
         FROM usage_batches WHERE id = ANY($1::uuid[])`,
      [outcomes.flatMap((o) => (o.batchId ? [o.batchId] : []))],
    );
    const byId = new Map(stored.rows.map((row) => [row.id, row]));
    for (const outcome of outcomes) {
      const row = outcome.batchId ? byId.get(outcome.batchId) : undefined;
      outcome.receivedAt = row ? Number(row.received_ms) : null;
      outcome.postedAt = row?.posted_ms == null ? null : Number(row.posted_ms);
    }
    return {
      startedAt,
      outcomes,
      clientLoopUtilization: performance.eventLoopUtilization(loop).utilization,
    };
  } finally {
    await db.end();
  }
}

async function workerMain(): Promise<void> {
  const input = workerData as PhaseInput;
  switch (input.phase) {
    case 'copy':
      parentPort?.postMessage(await copyPhase(input));
      return;
    case 'insert':
      parentPort?.postMessage(await insertPhase(input));
      return;
    case 'ingest':
      parentPort?.postMessage(await ingestPhase(input));
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Main thread: the database, the API (timed from inside), the scheduler process, the report.

function inWorker(input: BaselineInput): Promise<BaselineOutput>;
function inWorker(input: IngestInput): Promise<IngestOutput>;
function inWorker(input: PhaseInput): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: input,
      resourceLimits: { maxOldGenerationSizeMb: 4096 },
    });
    let answered = false;
    worker.once('message', (message) => {
      answered = true;
      resolve(message);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the ${input.phase} worker exited with ${code} before answering`));
    });
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

const round = (value: number, digits = 0): number => Number(value.toFixed(digits));
const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

function spread(values: number[]): { p50: number; p99: number; max: number } {
  return {
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    max: round(Math.max(0, ...values)),
  };
}

/** What the API spends on one call, from inside the process (see instrumentApi). */
interface CallTiming {
  key: string;
  arrivedAt?: number;
  bodyReceivedAt?: number;
  serviceStart?: number;
  serviceEnd?: number;
  finishedAt?: number;
  lookupMs: number;
  storeMs: number;
  insertMs: number;
  enqueueMs: number;
}

/**
 * Times the API's usage path from inside without touching production code: the HTTP server's
 * request/finish events, and wrappers on the IngestUsageBatchUseCase instance (its lookups, the
 * store transaction, the statement inserting usage_records, the enqueue). AsyncLocalStorage ties the
 * database calls to the ingest call they belong to; the batch key ties that to the HTTP request.
 */
async function instrumentApi(app: NestExpressApplication) {
  const { IngestUsageBatchUseCase } = await import('../../libs/application/src/index.js');
  type Execute = InstanceType<typeof IngestUsageBatchUseCase>['execute'];
  interface DataSourceInternals {
    createQueryRunner: (...args: unknown[]) => {
      query: (sql: string, ...rest: unknown[]) => Promise<unknown>;
    };
  }
  interface Internals {
    execute: Execute;
    batches: {
      allocationFacts: (...args: unknown[]) => Promise<unknown>;
      workloadFacts: (...args: unknown[]) => Promise<unknown>;
    };
    producer: { enqueue: (...args: unknown[]) => Promise<void> };
    transactions: { run: (...args: unknown[]) => Promise<unknown>; dataSource: DataSourceInternals };
  }
  const service = app.get<InstanceType<typeof IngestUsageBatchUseCase>, Internals>(IngestUsageBatchUseCase, {
    strict: false,
  });
  const calls = new Map<string, CallTiming>();
  const current = new AsyncLocalStorage<CallTiming>();
  const timingOf = (key: string): CallTiming => {
    let timing = calls.get(key);
    if (!timing) {
      timing = { key, lookupMs: 0, storeMs: 0, insertMs: 0, enqueueMs: 0 };
      calls.set(key, timing);
    }
    return timing;
  };
  const timed = <A extends unknown[], R>(
    run: (...args: A) => Promise<R>,
    field: 'lookupMs' | 'storeMs' | 'enqueueMs',
  ): ((...args: A) => Promise<R>) => {
    return async (...args: A) => {
      const timing = current.getStore();
      const begun = now();
      try {
        return await run(...args);
      } finally {
        if (timing) timing[field] += now() - begun;
      }
    };
  };

  const server: Server = app.getHttpServer();
  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const header = request.headers['x-bench-batch'];
    if (typeof header !== 'string') return;
    const timing = timingOf(header);
    timing.arrivedAt = now();
    request.once('end', () => (timing.bodyReceivedAt = now()));
    response.once('finish', () => (timing.finishedAt = now()));
  });

  const execute = service.execute.bind(service);
  service.execute = async (command) => {
    const first = command.records[0];
    const timing = timingOf(batchKey(first?.source ?? '', first?.externalId ?? 'job-0'));
    timing.serviceStart = now();
    try {
      return await current.run(timing, () => execute(command));
    } finally {
      timing.serviceEnd = now();
    }
  };
  const { batches, producer, transactions } = service;
  batches.allocationFacts = timed(batches.allocationFacts.bind(batches), 'lookupMs');
  batches.workloadFacts = timed(batches.workloadFacts.bind(batches), 'lookupMs');
  producer.enqueue = timed(producer.enqueue.bind(producer), 'enqueueMs');
  transactions.run = timed(transactions.run.bind(transactions), 'storeMs');
  const dataSource = transactions.dataSource;
  const createQueryRunner = dataSource.createQueryRunner.bind(dataSource);
  dataSource.createQueryRunner = (...args: unknown[]) => {
    const runner = createQueryRunner(...args);
    const query = runner.query.bind(runner);
    runner.query = async (sql: string, ...rest: unknown[]) => {
      const timing = current.getStore();
      if (!timing || !sql.includes('INSERT INTO usage_records')) return query(sql, ...rest);
      const begun = now();
      try {
        return await query(sql, ...rest);
      } finally {
        timing.insertMs += now() - begun;
      }
    };
    return runner;
  };
  return {
    /** Calls whose key starts with `source#`, complete. */
    timings(source: string): CallTiming[] {
      return [...calls.values()].filter(
        (timing) => timing.key.startsWith(`${source}#`) && timing.finishedAt !== undefined,
      );
    },
  };
}

/** CPU ticks of every process (all its threads) and of the machine, from /proc. */
interface CpuSnapshot {
  ticks: Map<number, { comm: string; ticks: number }>;
  machineBusy: number;
  machineTotal: number;
}

function cpuSnapshot(): CpuSnapshot {
  const ticks = new Map<number, { comm: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(entry), { comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended between readdir and read.
    }
  }
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = sum(cpu.slice(0, 8));
  return { ticks, machineBusy: total - idle, machineTotal: total };
}

const CPU_GROUPS = {
  bench: 'bench process (API main thread + client thread)',
  scheduler: 'scheduler process',
  apiBackends: "PostgreSQL backends of the API's connections (storing)",
  schedulerBackends: "PostgreSQL backends of the scheduler's connections (posting)",
  benchBackends: "PostgreSQL backends of the bench's own connections (polling)",
  background: 'PostgreSQL background (checkpointer, WAL writer, autovacuum)',
  redis: 'Redis',
  other: "other (other sessions' processes and databases)",
} as const;

/** Which group a process's CPU goes to; PostgreSQL backends by their connection's application_name. */
function cpuGroup(
  pid: number,
  comm: string,
  schedulerPid: number | undefined,
  backends: ReadonlyMap<number, string>,
): string {
  if (pid === process.pid) return CPU_GROUPS.bench;
  if (pid === schedulerPid) return CPU_GROUPS.scheduler;
  if (comm.startsWith('redis-server')) return CPU_GROUPS.redis;
  if (comm !== 'postgres') return CPU_GROUPS.other;
  const application = backends.get(pid);
  if (application === 'gpupool-api') return CPU_GROUPS.apiBackends;
  if (application === 'gpupool-scheduler') return CPU_GROUPS.schedulerBackends;
  if (application !== undefined) return CPU_GROUPS.benchBackends;
  let title: string;
  try {
    title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return CPU_GROUPS.other;
  }
  return /checkpointer|background writer|walwriter|autovacuum|logical replication/.test(title)
    ? CPU_GROUPS.background
    : CPU_GROUPS.other;
}

function cpuSince(
  before: CpuSnapshot,
  schedulerPid: number | undefined,
  backends: ReadonlyMap<number, string>,
): Record<string, number> {
  const after = cpuSnapshot();
  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const groups: Record<string, number> = Object.fromEntries(Object.values(CPU_GROUPS).map((g) => [g, 0]));
  for (const [pid, { comm, ticks }] of after.ticks) {
    const group = cpuGroup(pid, comm, schedulerPid, backends);
    groups[group] = (groups[group] ?? 0) + (ticks - (before.ticks.get(pid)?.ticks ?? 0)) / hz;
  }
  const result: Record<string, number> = {};
  for (const [group, seconds] of Object.entries(groups)) result[group] = round(seconds, 1);
  result['machine busy (share of 2 cores × wall)'] = round(
    (after.machineBusy - before.machineBusy) / Math.max(1, after.machineTotal - before.machineTotal),
    3,
  );
  return result;
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Per usage.post job, from the queue's event stream: waiting in the queue, and posting. */
function jobPhases(
  entries: [string, string[]][],
  jobIds: ReadonlySet<string>,
): { waitMs: number[]; postMs: number[]; jobs: number } {
  const added = new Map<string, number>();
  const active = new Map<string, number>();
  const waitMs: number[] = [];
  const postMs: number[] = [];
  for (const [id, fields] of entries) {
    const at = Number(id.split('-')[0]);
    const field: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) field[fields[i] ?? ''] = fields[i + 1] ?? '';
    const jobId = field.jobId ?? '';
    if (!jobIds.has(jobId)) continue;
    if (field.event === 'added' && !added.has(jobId)) added.set(jobId, at);
    if (field.event === 'active') {
      active.set(jobId, at);
      const queued = added.get(jobId);
      if (queued !== undefined) waitMs.push(at - queued);
    }
    if (field.event === 'completed') {
      const begun = active.get(jobId);
      if (begun !== undefined) postMs.push(at - begun);
    }
  }
  return { waitMs, postMs, jobs: postMs.length };
}

interface Options {
  records: number;
  clients: number;
  allocations: number;
  /** Where the scheduler process writes a V8 CPU profile (node --cpu-prof), if anywhere. */
  schedulerCpuProf?: string;
}

/** What the run started: undone in main's `finally`, whatever failed. */
interface Resources {
  closed: boolean;
  scheduler?: ChildProcess;
  app?: { close(): Promise<void> };
  dataSource?: { destroy(): Promise<void>; isInitialized: boolean };
}

async function measure(options: Options, config: GpupoolConfig, resources: Resources) {
  const { records, clients } = options;
  const { createDataSource, ensureDatabase } = await import('#persistence');
  await ensureDatabase(config.DATABASE_URL);
  const db = createDataSource({ url: config.DATABASE_URL, poolSize: 4 });
  resources.dataSource = db;
  await db.initialize();
  await db.runMigrations();

  // Allocations to charge: one approved request each, granted by the real grant service.
  const anchorMs = Math.floor(Date.now() / DAY_MS) * DAY_MS - 21 * DAY_MS;
  const { grantUseCase } = await import('../support/grant.js');
  const { seedApprovedRequest } = await import('../factories/grant-fixtures.js');
  const requestIds: string[] = [];
  for (let i = 0; i < options.allocations; i++) {
    const fixture = await seedApprovedRequest(db, {
      models: [GPU_MODEL],
      budgetGpuHours: 100_000_000n,
      grantedGpuHours: [50_000_000n],
      startsAt: new Date(anchorMs - DAY_MS),
      endsAt: new Date(Date.now() + 180 * DAY_MS),
    });
    await grantUseCase(db).execute(fixture.requestId);
    requestIds.push(fixture.requestId);
  }
  const allocationIds = (
    await db.query<{ id: string }[]>('SELECT id FROM allocations WHERE request_id = ANY($1) ORDER BY id', [
      requestIds,
    ])
  ).map((row) => row.id);
  if (allocationIds.length !== options.allocations) {
    throw new Error(`granted ${allocationIds.length} allocations, wanted ${options.allocations}`);
  }
  const shape: Shape = { databaseUrl: config.DATABASE_URL, records, clients, anchorMs, allocationIds };
  const [postgres] = await db.query<Record<string, string>[]>(
    `SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS synchronous_commit,
            current_setting('fsync') AS fsync, current_setting('shared_buffers') AS shared_buffers,
            current_setting('max_wal_size') AS max_wal_size`,
  );

  // (b) The baselines first, while nothing else runs; each table dropped and checkpointed after.
  const baseline = async (phase: 'copy' | 'insert'): Promise<BaselineOutput> => {
    const table = `bench_raw_${phase}`;
    await db.query(`CREATE TABLE ${table} (LIKE usage_records)`);
    process.stderr.write(`bench: (b) ${phase} of ${records} rows …\n`);
    const output = await inWorker({ phase, table, ...shape });
    const [counted] = await db.query<{ rows: string }[]>(`SELECT count(*)::text AS rows FROM ${table}`);
    if (Number(counted?.rows) !== records || output.rows !== records) {
      throw new Error(`${table} holds ${counted?.rows} rows (${output.rows} reported), not ${records}`);
    }
    await db.query(`DROP TABLE ${table}`);
    await db.query('CHECKPOINT');
    return output;
  };
  const copy = await baseline('copy');
  const insert = await baseline('insert');

  // The API in this thread, and an API token of scope usage:write.
  const { bootstrapAdmin } = await import('../../apps/api/src/cli/bootstrap-admin.js');
  const { createApiApp } = await import('../../apps/api/src/bootstrap.js');
  await bootstrapAdmin(config);
  const api = await createApiApp(config, { logs: false });
  resources.app = api;
  await api.listen(0, '127.0.0.1');
  const baseUrl = await api.getUrl();
  const post = async (path: string, body: unknown, token?: string) => {
    const response = await fetch(new URL(path, baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const answer = (await response.json()) as Record<string, unknown>;
    if (response.status >= 300) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(answer)}`);
    return answer;
  };
  const login = await post('/v1/auth/login', {
    email: config.GPUPOOL_ADMIN_EMAIL,
    password: config.GPUPOOL_ADMIN_PASSWORD,
  });
  const created = await post(
    '/v1/api-tokens',
    { name: 'bench cluster agent', scopes: ['usage:write'] },
    login.accessToken as string,
  );
  const token = created.token as string;
  const instrument = await instrumentApi(api);

  // Warm-up: a few calls, one at a time, no scheduler running: also the API's unloaded call time.
  process.stderr.write(`bench: warm-up, ${WARMUP_CALLS} calls of ${BATCH} …\n`);
  const warmup = await inWorker({
    phase: 'ingest',
    ...shape,
    records: WARMUP_CALLS * BATCH,
    clients: 1,
    baseUrl,
    token,
    source: WARMUP_SOURCE,
    waitPosted: false,
  });
  if (warmup.outcomes.some((o) => o.status !== 202)) throw new Error('warm-up calls were refused');

  // One scheduler process, as in production; ready once it has posted the warm-up batches.
  if (resources.closed) throw new Error('closed');
  const profile = options.schedulerCpuProf
    ? ['--cpu-prof', `--cpu-prof-dir=${options.schedulerCpuProf}`]
    : [];
  const scheduler = spawn(process.execPath, [...profile, 'dist/apps/scheduler/src/main.js'], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      DATABASE_URL: config.DATABASE_URL,
      REDIS_URL: config.REDIS_URL,
      QUEUE_BACKEND: config.QUEUE_BACKEND,
      QUEUE_PREFIX: config.QUEUE_PREFIX,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  resources.scheduler = scheduler;
  const readyBy = Date.now() + 120_000;
  for (;;) {
    const [left] = await db.query<{ unposted: string }[]>(
      'SELECT count(*)::text AS unposted FROM usage_batches WHERE posted_at IS NULL',
    );
    if (Number(left?.unposted) === 0) break;
    if (scheduler.exitCode !== null) throw new Error(`the scheduler exited with ${scheduler.exitCode}`);
    if (Date.now() > readyBy) throw new Error('the scheduler did not post the warm-up batches in 2 minutes');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await db.query('CHECKPOINT');

  // (a) End to end.
  process.stderr.write(`bench: (a) ${records} records, ${clients} clients, 1 scheduler …\n`);
  const loadBeforeA = loadavg().map((load) => round(load, 2));
  const cpuBefore = cpuSnapshot();
  const apiLoop = performance.eventLoopUtilization();
  const ingest = await inWorker({
    phase: 'ingest',
    ...shape,
    baseUrl,
    token,
    source: SOURCE,
    waitPosted: true,
  });
  const apiLoopUtilization = performance.eventLoopUtilization(apiLoop).utilization;
  const backends = await db.query<{ pid: number; application_name: string }[]>(
    'SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database()',
  );
  const cpu = cpuSince(cpuBefore, scheduler.pid, new Map(backends.map((b) => [b.pid, b.application_name])));
  const jobs = await usageJobPhases(
    config.REDIS_URL,
    config.QUEUE_PREFIX,
    ingest.outcomes.flatMap((o) => (o.batchId ? [o.batchId] : [])),
  );
  const offline = await offlineCosts(anchorMs, allocationIds);

  const outcomes = ingest.outcomes;
  const posted = outcomes.filter((o) => o.batchId !== null);
  const accepted = sum(outcomes.map((o) => o.accepted));
  const seconds = (Math.max(...posted.map((o) => o.visibleAt ?? 0)) - ingest.startedAt) / 1000;
  const answeredSeconds = (Math.max(...outcomes.map((o) => o.answeredAt)) - ingest.startedAt) / 1000;
  const recordsPerSecond = accepted / seconds;
  const copyPerSecond = copy.rows / copy.seconds;
  const insertPerSecond = insert.rows / insert.seconds;
  return {
    benchmark: 'usage-ingest',
    command: `npm run bench:usage -- ${process.argv.slice(2).join(' ')}`.trim(),
    node: process.version,
    at: new Date().toISOString(),
    machine: {
      note: '2 cores, shared (other sessions may use the same PostgreSQL, Redis and CPUs)',
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: round(totalmem() / 2 ** 30, 1),
      loadAverageBeforeA: loadBeforeA,
    },
    postgres,
    shape: {
      records,
      clients,
      recordsPerCall: BATCH,
      calls: outcomes.length,
      allocations: options.allocations,
      schedulerProcesses: 1,
      recordShape: 'no workload id (allocation path), 1–8 GPUs, 1 min–6 h, starts spread over 20 days',
    },
    gpupool: {
      accepted,
      rejectedRecords: sum(outcomes.map((o) => o.rejected)),
      refusedCalls: outcomes.filter((o) => o.status !== 202).length,
      seconds: round(seconds, 2),
      recordsPerSecond: round(recordsPerSecond),
      allAnsweredSeconds: round(answeredSeconds, 2),
      apiRecordsPerSecond: round(accepted / answeredSeconds),
      ingestToBalanceMs: spread(posted.map((o) => (o.visibleAt ?? 0) - o.answeredAt)),
      ingestToPostedAtMs: spread(posted.map((o) => (o.postedAt ?? 0) - o.answeredAt)),
      receivedAtToPostedAtMs: spread(posted.map((o) => (o.postedAt ?? 0) - (o.receivedAt ?? 0))),
      apiCallMs: spread(outcomes.map((o) => o.answeredAt - o.sentAt)),
      apiCallUnloadedMs: warmup.outcomes.map((o) => round(o.answeredAt - o.sentAt)),
    },
    baseline: {
      copy: {
        what: `COPY FROM STDIN (text format) of the same rows and columns into a plain logged table (LIKE usage_records: NOT NULLs only, no index, key, FK or trigger), one COPY per ${BATCH.toLocaleString('en')} rows from ${clients} connections`,
        seconds: round(copy.seconds, 2),
        recordsPerSecond: round(copyPerSecond),
        batchMs: spread(copy.batchMs),
      },
      insertUnnest: {
        what: `multi-row INSERT … SELECT FROM unnest(…) of the same rows (storeUsageBatch's statement shape, no ON CONFLICT or RETURNING) into the same kind of table, per ${BATCH.toLocaleString('en')} rows from ${clients} connections`,
        seconds: round(insert.seconds, 2),
        recordsPerSecond: round(insertPerSecond),
        batchMs: spread(insert.batchMs),
      },
    },
    ratio: round(recordsPerSecond / copyPerSecond, 4),
    ratioToUnnestInsert: round(recordsPerSecond / insertPerSecond, 4),
    whereTheTimeGoes: {
      apiPerCallMs: apiBreakdown(instrument.timings(SOURCE)),
      apiPerCallUnloadedMs: apiBreakdown(instrument.timings(WARMUP_SOURCE)),
      apiEventLoopUtilization: round(apiLoopUtilization, 3),
      clientEventLoopUtilization: round(ingest.clientLoopUtilization, 3),
      scheduler: {
        jobs: jobs.jobs,
        queueWaitMs: spread(jobs.waitMs),
        postingMs: spread(jobs.postMs),
        postingSecondsTotal: round(sum(jobs.postMs) / 1000, 1),
      },
      cpuSecondsDuringA: cpu,
      offlineOneCallMs: offline,
    },
  };
}

type UsageBenchResult = Awaited<ReturnType<typeof measure>>;

function apiBreakdown(calls: CallTiming[]): Record<string, { p50: number; p99: number; max: number }> {
  const between = (from: keyof CallTiming, to: keyof CallTiming) =>
    spread(calls.map((t) => (Number(t[to]) || 0) - (Number(t[from]) || 0)));
  return {
    'receive body (upload + waiting for the event loop)': between('arrivedAt', 'bodyReceivedAt'),
    'JSON.parse + auth guard + zod schema (until the service)': between('bodyReceivedAt', 'serviceStart'),
    'allocation/workload lookups': spread(calls.map((t) => t.lookupMs)),
    'map + validate records (service, outside I/O)': spread(
      calls.map((t) => (t.serviceEnd ?? 0) - (t.serviceStart ?? 0) - t.lookupMs - t.storeMs - t.enqueueMs),
    ),
    'store transaction (storeUsageBatch)': spread(calls.map((t) => t.storeMs)),
    '… of which INSERT INTO usage_records … RETURNING': spread(calls.map((t) => t.insertMs)),
    'enqueue usage.post': spread(calls.map((t) => t.enqueueMs)),
    'answer (serialize + write)': between('serviceEnd', 'finishedAt'),
    'server total (request → response finished)': between('arrivedAt', 'finishedAt'),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000000' },
      clients: { type: 'string', default: '4' },
      allocations: { type: 'string', default: '16' },
      write: { type: 'boolean', default: false },
      'scheduler-cpu-prof': { type: 'string' },
    },
  });
  const sizes = {
    records: Number(values.records),
    clients: Number(values.clients),
    allocations: Number(values.allocations),
  };
  const options: Options = { ...sizes, schedulerCpuProf: values['scheduler-cpu-prof'] };
  for (const [name, value] of Object.entries(sizes)) {
    if (!(Number.isSafeInteger(value) && value > 0)) throw new Error(`--${name} must be a positive integer`);
  }
  const { configFrom } = await import('#config');
  const databaseName = `gpupool_bench_usage_${Date.now()}`;
  const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  const config = configFrom({
    DATABASE_URL: url.toString(),
    QUEUE_PREFIX: `benchusage${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
    PORT: '0',
  });

  const resources: Resources = { closed: false };
  // Ctrl-C still cleans up: the run is abandoned, then the finally below runs. `on`, not `once`:
  // the API's shutdown hooks re-send the signal to this process after closing the app, which would
  // end it before the cleanup if no listener of ours were left.
  const interrupted = new Promise<never>((_, reject) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => reject(new Error(`interrupted by ${signal}`)));
    }
  });
  let result: UsageBenchResult;
  try {
    result = await Promise.race([measure(options, config, resources), interrupted]);
  } finally {
    resources.closed = true;
    if (resources.scheduler) await stopProcess(resources.scheduler);
    await resources.app?.close().catch(() => undefined);
    if (resources.dataSource?.isInitialized) await resources.dataSource.destroy().catch(() => undefined);
    await removeQueueKeys(config.REDIS_URL, config.QUEUE_PREFIX);
    const dropper = new pg.Client({ connectionString: adminUrl });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
    await dropper.end();
    process.stderr.write(`bench: dropped ${databaseName} and the ${config.QUEUE_PREFIX}:* queue keys\n`);
  }

  process.stdout.write(summary(result) + '\n');
  if (values.write) {
    const date = result.at.slice(0, 10);
    mkdirSync('test/bench/results', { recursive: true });
    writeFileSync(`test/bench/results/usage-${date}.json`, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(`test/bench/results/usage-${date}.md`, markdown(result));
    process.stdout.write(`wrote test/bench/results/usage-${date}.{json,md}\n`);
  }
}

/** Per usage.post job, from the usage queue's event stream: time waiting in the queue, and posting. */
async function usageJobPhases(
  redisUrl: string,
  prefix: string,
  batchIds: string[],
): Promise<{ waitMs: number[]; postMs: number[]; jobs: number }> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const entries = (await redis.xrange(`${prefix}:usage:events`, '-', '+')) as [string, string[]][];
    return jobPhases(entries, new Set(batchIds.map((id) => `usage-${id}`)));
  } finally {
    redis.disconnect();
  }
}

/** One call's CPU in this thread alone: JSON.parse, the zod body schema, the per-record rules. */
async function offlineCosts(anchorMs: number, allocationIds: string[]) {
  const { usageRecordsBody } = await import('../../apps/api/src/usage/dto/usage-records.request.js');
  const { validateUsageRecord } = await import('#domain');
  const records = Array.from({ length: BATCH }, (_, index) => {
    const r = recordAt(index, anchorMs, allocationIds);
    return {
      source: SOURCE,
      externalId: r.externalId,
      allocationId: r.allocationId,
      gpuModel: GPU_MODEL,
      gpus: r.gpus,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
    };
  });
  const text = JSON.stringify({ records });
  const facts = {
    allocationId: allocationIds[0] ?? '',
    gpuModel: GPU_MODEL,
    startsAt: new Date(anchorMs - DAY_MS),
    endsAt: new Date(Date.now() + 180 * DAY_MS),
    status: 'active',
  };
  const median = (work: () => void): number => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const begun = now();
      work();
      times.push(now() - begun);
    }
    return round(percentile(times, 50), 1);
  };
  const parsed = JSON.parse(text) as unknown;
  const body = usageRecordsBody.parse(parsed);
  // As UsageIngestController.ingest maps them: two Date parses per record.
  const mapRecords = () =>
    body.records.map((record) => ({
      ...record,
      workloadId: record.workloadId ?? null,
      startedAt: new Date(record.startedAt),
      endedAt: new Date(record.endedAt),
    }));
  const mapped = mapRecords();
  return {
    bodyBytes: Buffer.byteLength(text),
    jsonParse: median(() => void JSON.parse(text)),
    zodSchema: median(() => void usageRecordsBody.parse(parsed)),
    mapRecords: median(() => void mapRecords()),
    validateUsageRecord: median(() => {
      const at = new Date();
      for (const record of mapped) validateUsageRecord(record, facts, null, at);
    }),
  };
}

async function removeQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function rows(result: UsageBenchResult): [string, string, string][] {
  const g = result.gpupool;
  const ms = (s: { p50: number; p99: number }) => `${s.p50} ms / ${s.p99} ms`;
  return [
    [
      'throughput',
      `${g.recordsPerSecond.toLocaleString('en')} records/s (first send → last batch posted, ${g.seconds} s)`,
      `${result.baseline.copy.recordsPerSecond.toLocaleString('en')} rows/s COPY (${result.baseline.copy.seconds} s); ${result.baseline.insertUnnest.recordsPerSecond.toLocaleString('en')} rows/s unnest INSERT (${result.baseline.insertUnnest.seconds} s)`,
    ],
    ['ratio (a)/(b)', `${result.ratio} of COPY; ${result.ratioToUnnestInsert} of unnest INSERT`, '1'],
    [
      'API alone (all 202s received)',
      `${g.apiRecordsPerSecond.toLocaleString('en')} records/s (${g.allAnsweredSeconds} s)`,
      '—',
    ],
    ['ingest → updated balance p50 / p99 (202 → posting visible)', ms(g.ingestToBalanceMs), '—'],
    [
      "202 → posted_at as stored p50 / p99 (now(): the posting transaction's start, not its commit)",
      ms(g.ingestToPostedAtMs),
      '—',
    ],
    ['API call of 10,000 records p50 / p99 (under load)', ms(g.apiCallMs), '—'],
    ['API call of 10,000 records, alone', g.apiCallUnloadedMs.map((v) => `${v} ms`).join(', '), '—'],
    [
      'usage.post: queue wait p50 / p99; posting p50 / p99',
      `${ms(result.whereTheTimeGoes.scheduler.queueWaitMs)}; ${ms(result.whereTheTimeGoes.scheduler.postingMs)}`,
      '—',
    ],
    [
      'records accepted / rejected; calls refused',
      `${g.accepted} / ${g.rejectedRecords}; ${g.refusedCalls}`,
      '—',
    ],
  ];
}

function summary(result: UsageBenchResult): string {
  const lines = rows(result).map(
    ([measure, a, b]) =>
      `${measure.padEnd(58)} ${a}${b === '—' || b === '1' ? '' : `\n${''.padEnd(58)} (b) ${b}`}`,
  );
  return [
    `bench:usage — ${result.shape.records} records, ${result.shape.clients} clients, 10,000 per call, 1 scheduler`,
    ...lines,
    '',
    'API per call (ms, p50 / p99 / max, under load):',
    ...Object.entries(result.whereTheTimeGoes.apiPerCallMs).map(
      ([step, value]) => `  ${step.padEnd(56)} ${value.p50} / ${value.p99} / ${value.max}`,
    ),
    `API event loop busy ${result.whereTheTimeGoes.apiEventLoopUtilization}; CPU seconds during (a): ${JSON.stringify(result.whereTheTimeGoes.cpuSecondsDuringA)}`,
    `one call in isolation (ms): ${JSON.stringify(result.whereTheTimeGoes.offlineOneCallMs)}`,
  ].join('\n');
}

function markdown(result: UsageBenchResult): string {
  const table = rows(result).map(([measure, a, b]) => `| ${measure} | ${a} | ${b} |`);
  const alone = result.whereTheTimeGoes.apiPerCallUnloadedMs;
  const breakdown = Object.entries(result.whereTheTimeGoes.apiPerCallMs).map(
    ([step, value]) =>
      `| ${step} | ${value.p50} / ${value.p99} / ${value.max} | ${alone[step]?.p50 ?? '–'} / ${alone[step]?.max ?? '–'} |`,
  );
  const cpu = Object.entries(result.whereTheTimeGoes.cpuSecondsDuringA).map(
    ([group, seconds]) => `| ${group} | ${seconds} |`,
  );
  const offline = result.whereTheTimeGoes.offlineOneCallMs;
  return [
    `# bench:usage: usage ingestion end to end beside a raw COPY`,
    '',
    `Command: \`${result.command}\` (${result.node}, ${result.at}; ${result.machine.cpus} cores (${result.machine.cpuModel}), shared; ` +
      `PostgreSQL ${result.postgres?.version ?? '?'}, synchronous_commit ${result.postgres?.synchronous_commit ?? '?'}, shared_buffers ${result.postgres?.shared_buffers ?? '?'}).`,
    '',
    `${result.shape.records.toLocaleString('en')} records (${result.shape.recordShape}) on ${result.shape.allocations} allocations, ` +
      `sent as ${result.shape.calls} calls of 10,000 by ${result.shape.clients} concurrent clients; one scheduler process posts them.`,
    '',
    `(b): ${result.baseline.copy.what}. Beside it: ${result.baseline.insertUnnest.what}.`,
    '',
    '| measure | (a) gpupool: HTTP → store → usage.post → ledger + rollups | (b) raw into an unindexed table |',
    '| --- | --- | --- |',
    ...table,
    '',
    '## Where the time goes',
    '',
    `API, per call of 10,000 records (ms): under load, p50 / p99 / max of the ${result.shape.calls} calls of (a), wall time on the ` +
      `API thread, so it includes waiting for the other calls; alone, p50 / max of the ${WARMUP_CALLS} warm-up calls made one at a time before the scheduler started.`,
    '',
    '| step | under load | alone |',
    '| --- | --- | --- |',
    ...breakdown,
    '',
    `API event loop utilization during (a): ${result.whereTheTimeGoes.apiEventLoopUtilization}; the client thread's: ${result.whereTheTimeGoes.clientEventLoopUtilization}.`,
    `One call's CPU alone (${offline.bodyBytes.toLocaleString('en')} bytes of JSON): JSON.parse ${offline.jsonParse} ms, zod body schema ${offline.zodSchema} ms, mapping (2 Date parses per record) ${offline.mapRecords} ms, validateUsageRecord ×10,000 ${offline.validateUsageRecord} ms.`,
    `Scheduler: ${result.whereTheTimeGoes.scheduler.jobs} usage.post jobs, ${result.whereTheTimeGoes.scheduler.postingSecondsTotal} s of posting in total.`,
    '',
    `CPU seconds during (a), by process (load average before (a): ${result.machine.loadAverageBeforeA.join(', ')}):`,
    '',
    '| process | CPU s |',
    '| --- | --- |',
    ...cpu,
    '',
  ].join('\n');
}

if (isMainThread) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
} else {
  workerMain().catch((error: unknown) => {
    process.stderr.write(
      `bench worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
