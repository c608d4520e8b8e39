import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { JobProducer, QueueTransport } from '../../libs/queues/src/index.js';
import { createTestDatabase } from '../support/database.js';
import { startSchedulerProcess, startThrowawayRedis, stopProcess, waitFor } from '../support/processes.js';
import { grantFacts, seedApprovedRequest } from '../factories/grant-fixtures.js';

/**
 * Faults between approval and grant: the scheduler killed with SIGKILL inside the grant, and Redis
 * flushed with the grant job in it. Both must end in exactly one grant. Each test runs its own
 * redis-server and database; the shared services are never touched.
 */
describe('grant under faults', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let redis: Awaited<ReturnType<typeof startThrowawayRedis>>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('grant_faults');
    dataSource = createDataSource({ url: database.url, poolSize: 4 });
    await dataSource.initialize();
    redis = await startThrowawayRedis();
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => stopProcess(child, 'SIGKILL')));
    await redis.stop();
    await dataSource.destroy();
    await database.drop();
  });

  function schedulerEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_BACKEND: 'redis',
      QUEUE_PREFIX: prefix,
      DATABASE_POOL_SIZE: '4',
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_GRACE_MS: '0',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      ...extra,
    };
  }

  function producerFor(prefix: string): { producer: JobProducer; transport: QueueTransport } {
    const transport = new QueueTransport({
      backend: 'redis',
      redisUrl: redis.url,
      databaseUrl: database.url,
      prefix,
    });
    return { producer: new JobProducer(transport), transport };
  }

  it('SIGKILL of the scheduler inside the grant transaction: a second scheduler grants exactly once', async () => {
    const prefix = `k${randomBytes(3).toString('hex')}`;
    const fixture = await seedApprovedRequest(dataSource, { grantedGpuHours: [500n] });
    const { producer, transport } = producerFor(prefix);
    await producer.enqueue({ name: 'grant.allocation', data: { requestId: fixture.requestId } });

    // The first scheduler holds the grant transaction open for 60 s: we kill it in the middle.
    const first = startSchedulerProcess(schedulerEnv(prefix, { FAULT_GRANT_DELAY_MS: '60000' }));
    children.push(first);
    const job = await waitFor('the grant job to become active', async () => {
      const found = await producer.queue('intake').getJob(`grant-${fixture.requestId}`);
      return found && (await found.getState()) === 'active' ? found : undefined;
    });
    expect(job.id).toBe(`grant-${fixture.requestId}`);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect((await grantFacts(dataSource, fixture.requestId)).allocations).toBe(0);

    const second = startSchedulerProcess(schedulerEnv(prefix));
    children.push(second);
    const facts = await waitFor('the grant to complete', async () => {
      const current = await grantFacts(dataSource, fixture.requestId);
      return current.intent === 'done' ? current : undefined;
    });
    // Let any redelivery of the stalled job run too; it must change nothing.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await grantFacts(dataSource, fixture.requestId)).toEqual({
      ...facts,
      allocations: 1,
      grantTransactions: 1,
    });
    await stopProcess(second);
    await producer.close();
    await transport.close();
  });

  it('Redis flushed between approval and grant: the reconciler re-enqueues from PostgreSQL, one grant', async () => {
    const prefix = `f${randomBytes(3).toString('hex')}`;
    const fixture = await seedApprovedRequest(dataSource, { grantedGpuHours: [321n] });
    const { producer, transport } = producerFor(prefix);
    await producer.enqueue({ name: 'grant.allocation', data: { requestId: fixture.requestId } });
    const admin = new Redis(redis.url);
    expect(await admin.keys(`${prefix}:*`)).not.toHaveLength(0);
    await admin.flushall();
    expect(await admin.keys(`${prefix}:*`)).toHaveLength(0);
    await admin.quit();

    const scheduler = startSchedulerProcess(schedulerEnv(prefix));
    children.push(scheduler);
    const facts = await waitFor('the reconciler to recover the grant', async () => {
      const current = await grantFacts(dataSource, fixture.requestId);
      return current.intent === 'done' ? current : undefined;
    });
    expect(facts.allocations).toBe(1);
    expect(facts.grantTransactions).toBe(1);
    expect(facts.unbalancedTransactions).toBe(0);

    // Flush again with the scheduler running: its periodic sweep comes back by itself.
    const second = await seedApprovedRequest(dataSource, { grantedGpuHours: [123n] });
    const flusher = new Redis(redis.url);
    await flusher.flushall();
    await flusher.quit();
    const recovered = await waitFor('the sweep to survive a flush', async () => {
      const current = await grantFacts(dataSource, second.requestId);
      return current.intent === 'done' ? current : undefined;
    });
    expect(recovered.allocations).toBe(1);
    await stopProcess(scheduler);
    await producer.close();
    await transport.close();
  });
});
