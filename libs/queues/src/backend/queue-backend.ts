/**
 * Chooses the datastore behind every BullMQ Queue / Worker / QueueEvents / FlowProducer of a process:
 * Redis (production) or PostgreSQL (BullMQ 6's built-in PostgreSQL backend: the zero-install local
 * default, running on the same database as gpupool's own tables).
 *
 * What BullMQ 6.7 actually offers (read from node_modules/bullmq/dist/esm/*.d.ts, tried against the
 * local PostgreSQL 15 and Redis 7):
 *
 * - Every queue class takes an optional LAST constructor argument, a `BackendFactory`:
 *     `new Queue(name, opts, factory)`, `new Worker(name, processor, opts, factory)`,
 *     `new QueueEvents(name, opts, factory)`, `new FlowProducer(opts, factory)`.
 *   `type BackendFactory<B, C> = (name, opts: QueueBaseOptions<C>, { blocking?, withBlockingConnection? }) => B`.
 *   Built-in factories: `createRedisBackend` (the default) and `createPostgresBackend`.
 * - `setDefaultBackendFactory(factory?)` replaces the process-wide default used when no factory is
 *   passed (no argument resets to Redis); `getDefaultBackendFactory()` reads it.
 *   `withBackend(factory)` returns `{ Queue, Worker, QueueEvents, QueueEventsProducer, FlowProducer }`
 *   subclasses bound to a factory without touching the default.
 * - PostgreSQL `connection` (`PostgresConnectionOptions`) is one of: a connection string; a node-postgres
 *   `PoolConfig` plus BullMQ keys `{ schema?, migrate?, skipMigrations?, skipVersionCheck? }`; or an
 *   existing `pg.Pool` (caller-owned; its LISTEN client is then checked out of that pool and the schema
 *   is always the default `bullmq`). With a string/config each Queue/Worker builds ITS OWN `pg.Pool`
 *   plus one standalone LISTEN connection (keepAlive on), so `max` must be small.
 * - The PostgreSQL backend namespaces by schema (default `bullmq`); the Redis-only `prefix` option is
 *   ignored by it. Schema names: `[A-Za-z_][A-Za-z0-9_$]*`, at most 63 bytes.
 * - Its tables are NOT created on connect by default: `waitUntilReady()` only checks the migration
 *   ledger and throws `SchemaMigrationRequiredError` on a fresh database. Either pass `migrate: true`
 *   in the connection config (concurrent starters are serialized by `pg_advisory_xact_lock`), or call
 *   `runMigrations(client, schema)` on a dedicated `pg.Client` (never a pool). PostgreSQL >= 13.
 * - Redis `connection` accepts `{ url, ...ioredisOptions }` (BullMQ builds `new IORedis(url, rest)`).
 *   `queue.client` is gone; `(await queue.getBackend().client)` is the raw Redis client (Redis only).
 *
 * @nestjs/bullmq 12.0.0 has no backend option: `BullModule.forRoot(options)` takes plain
 * `QueueOptions` and calls `new Queue(name, opts)` / `new Worker(...)` / `new QueueEvents(...)` without
 * a factory. So for PostgreSQL call `configureQueueBackend()` (which calls `setDefaultBackendFactory`)
 * before the Nest module initialises, and pass `backend.queueOptions` as the `forRoot` options.
 * (`BullModule.queueClass` / `workerClass` / `flowProducerClass` setters accept `withBackend()`'s
 * classes, but `@QueueEventsListener` always builds a plain `QueueEvents`, so the default is needed.)
 */
import {
  createPostgresBackend,
  createRedisBackend,
  runMigrations,
  setDefaultBackendFactory,
  type BackendFactory,
  type ConnectionOptions,
  type PostgresPoolConfig,
  type QueueOptions,
} from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

export type QueueBackendKind = 'redis' | 'postgres';

export interface QueueBackendOptions {
  backend: QueueBackendKind;
  /** Used when `backend` is `redis`. */
  redisUrl: string;
  /** Used when `backend` is `postgres` (the same database as gpupool's tables). */
  databaseUrl: string;
  /** QUEUE_PREFIX: Redis key prefix, or (PostgreSQL) the schema `bullmq_<prefix>`. Default `gpupool`. */
  prefix?: string;
  /** PostgreSQL: pool size of EACH Queue/Worker (each also holds one LISTEN connection). Default 2. */
  postgresPoolSize?: number;
  /**
   * Make this backend the process-wide default (`setDefaultBackendFactory`), so classes created without
   * a factory — notably by @nestjs/bullmq — use it. Default true.
   */
  setAsDefault?: boolean;
}

export type QueueConnection = ConnectionOptions | PostgresPoolConfig;

export interface QueueBackend {
  readonly kind: QueueBackendKind;
  /** The `connection` option for Queue / Worker / QueueEvents / FlowProducer / BullModule.forRoot. */
  readonly connection: QueueConnection;
  /** Redis key prefix (ignored by the PostgreSQL backend). */
  readonly prefix: string;
  /** PostgreSQL schema holding the queue tables (undefined for Redis). */
  readonly schema: string | undefined;
  /** `{ connection, prefix }`: spread into queue class options, or pass to `BullModule.forRoot`. */
  readonly queueOptions: QueueOptions<QueueConnection>;
  /** Pass as the last constructor argument to bind a class to this backend explicitly. */
  readonly factory: BackendFactory;
  /** Creates the PostgreSQL queue schema now (no-op for Redis); safe to call from many processes. */
  migrate(): Promise<void>;
  /** Throws unless the datastore answers within `timeoutMs` (default 2000). For health checks. */
  ping(timeoutMs?: number): Promise<void>;
  /** Closes the ping client and, if this backend set the process default, restores the Redis default. */
  close(): Promise<void>;
}

/** `gpupool` → `bullmq_gpupool`; anything outside `[a-z0-9_]` becomes `_`. */
export function queueSchemaFor(prefix: string): string {
  return `bullmq_${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let current: QueueBackend | undefined;

export function configureQueueBackend(options: QueueBackendOptions): QueueBackend {
  const prefix = options.prefix ?? 'gpupool';
  const setAsDefault = options.setAsDefault ?? true;
  let closePing: () => Promise<void> = () => Promise.resolve();
  let backend: QueueBackend;

  if (options.backend === 'postgres') {
    const schema = queueSchemaFor(prefix);
    const connection: PostgresPoolConfig = {
      connectionString: options.databaseUrl,
      schema,
      migrate: true,
      max: options.postgresPoolSize ?? 2,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    };
    let pingPool: pg.Pool | undefined;
    const factory = createPostgresBackend as unknown as BackendFactory;
    backend = {
      kind: 'postgres',
      connection,
      prefix,
      schema,
      queueOptions: { connection, prefix },
      factory,
      async migrate() {
        const client = new pg.Client({ connectionString: options.databaseUrl });
        await client.connect();
        try {
          await runMigrations(client, schema);
        } finally {
          await client.end();
        }
      },
      async ping(timeoutMs = 2000) {
        pingPool ??= new pg.Pool({
          connectionString: options.databaseUrl,
          max: 1,
          idleTimeoutMillis: 30_000,
          connectionTimeoutMillis: timeoutMs,
        });
        pingPool.on('error', () => undefined);
        await withTimeout(pingPool.query('select 1'), timeoutMs, 'PostgreSQL (queue backend)');
      },
      async close() {
        await closePing();
        if (setAsDefault && current === backend) {
          setDefaultBackendFactory();
          current = undefined;
        }
      },
    };
    closePing = async () => {
      const p = pingPool;
      pingPool = undefined;
      await p?.end();
    };
  } else {
    const connection: ConnectionOptions = { url: options.redisUrl, maxRetriesPerRequest: null };
    let pingClient: Redis | undefined;
    const factory = createRedisBackend as unknown as BackendFactory;
    backend = {
      kind: 'redis',
      connection,
      prefix,
      schema: undefined,
      queueOptions: { connection, prefix },
      factory,
      migrate: () => Promise.resolve(),
      async ping(timeoutMs = 2000) {
        pingClient ??= new Redis(options.redisUrl, {
          lazyConnect: true,
          maxRetriesPerRequest: 1,
          enableOfflineQueue: true,
          connectTimeout: timeoutMs,
        });
        pingClient.on('error', () => undefined);
        await withTimeout(pingClient.ping(), timeoutMs, 'Redis (queue backend)');
      },
      async close() {
        await closePing();
        if (setAsDefault && current === backend) {
          setDefaultBackendFactory();
          current = undefined;
        }
      },
    };
    closePing = async () => {
      const c = pingClient;
      pingClient = undefined;
      if (c) c.disconnect();
      return Promise.resolve();
    };
  }

  if (setAsDefault) {
    setDefaultBackendFactory(backend.factory);
    current = backend;
  }
  return backend;
}

/** The backend last made the process default by `configureQueueBackend`, if any. */
export function currentQueueBackend(): QueueBackend | undefined {
  return current;
}

/** Health check of the process's queue backend: resolves, or throws with the reason. */
export async function pingQueueBackend(
  backend: QueueBackend | undefined = current,
  timeoutMs = 2000,
): Promise<void> {
  if (!backend) throw new Error('queue backend not configured (call configureQueueBackend first)');
  await backend.ping(timeoutMs);
}
