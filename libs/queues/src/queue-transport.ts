import { createPostgresBackend, Queue, Worker, type Processor, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';

export interface QueueTransportSettings {
  backend: 'redis' | 'postgres';
  redisUrl: string;
  databaseUrl: string;
  /** Namespaces queues: a Redis key prefix, or a PostgreSQL schema for the PostgreSQL backend. */
  prefix: string;
}

export type WorkerSettings = Pick<
  WorkerOptions,
  'concurrency' | 'lockDuration' | 'stalledInterval' | 'maxStalledCount'
>;

/**
 * Notes on BullMQ 6.7 backends (found by reading its .d.ts and trying both here). Chooses the datastore behind every BullMQ Queue / Worker / QueueEvents / FlowProducer of a process:
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

/**
 * Where BullMQ keeps its jobs: Redis in production, or BullMQ's PostgreSQL backend for the
 * zero-install default. Either way it is transport; PostgreSQL tables stay the source of truth.
 */
export class QueueTransport {
  private readonly redisClients: Redis[] = [];

  constructor(readonly settings: QueueTransportSettings) {}

  createQueue(name: string): Queue {
    if (this.settings.backend === 'postgres') {
      return new Queue(
        name,
        { connection: this.postgresConnection() },
        createPostgresBackend,
      ) as unknown as Queue;
    }
    // Producers fail fast: an HTTP request must not hang on a Redis that is down.
    const connection = this.redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    return new Queue(name, { connection, prefix: this.settings.prefix });
  }

  createWorker(name: string, processor: Processor, options: WorkerSettings = {}): Worker {
    if (this.settings.backend === 'postgres') {
      return new Worker(
        name,
        processor,
        { ...options, connection: this.postgresConnection() },
        createPostgresBackend,
      ) as unknown as Worker;
    }
    // Workers retry forever (BullMQ's production guide: maxRetriesPerRequest null). Options, not a
    // client, so BullMQ opens and owns its blocking connection.
    return new Worker(name, processor, {
      ...options,
      connection: { url: this.settings.redisUrl, maxRetriesPerRequest: null },
      prefix: this.settings.prefix,
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.redisClients.map((client) => client.quit()));
  }

  private redis(options: { enableOfflineQueue?: boolean; maxRetriesPerRequest: number | null }): Redis {
    const client = new Redis(this.settings.redisUrl, { ...options, lazyConnect: false });
    client.on('error', () => {
      // Reported by health checks and by failing enqueues; without a listener ioredis logs to stderr.
    });
    this.redisClients.push(client);
    return client;
  }

  /** Each Queue/Worker opens its own small pool plus one LISTEN connection; BullMQ creates its tables. */
  private postgresConnection(): { connectionString: string; schema: string; max: number; migrate: boolean } {
    return {
      connectionString: this.settings.databaseUrl,
      schema: queueSchemaFor(this.settings.prefix),
      max: 3,
      migrate: true,
    };
  }
}

/** The PostgreSQL schema that namespaces a prefix's queues (schema names allow [a-z0-9_], 63 bytes). */
export function queueSchemaFor(prefix: string): string {
  return `bullmq_${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
