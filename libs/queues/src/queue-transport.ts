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
    // Workers retry forever: BullMQ's production guide asks for maxRetriesPerRequest null.
    const connection = this.redis({ maxRetriesPerRequest: null });
    return new Worker(name, processor, { ...options, connection, prefix: this.settings.prefix });
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

  private postgresConnection(): { connectionString: string; schema: string; max: number } {
    return {
      connectionString: this.settings.databaseUrl,
      schema: `bullmq_${this.settings.prefix}`.toLowerCase(),
      max: 4,
    };
  }
}
