import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import {
  createDataSource,
  recordNotification,
  TypeormTransactionRunner,
  TypeormWebhookDeliveryRepository,
  WebhookSubscriptionEntity,
  type NotificationInput,
  type RecordedNotification,
} from '../../libs/persistence/src/index.js';
import { enqueueAfterCommit, JobProducer, QueueTransport } from '../../libs/queues/src/index.js';
import {
  DeliverWebhookUseCase,
  deliveryJobs,
  SweepWebhooksUseCase,
  type WebhookDeliveryOptions,
} from '../../libs/application/src/index.js';
import { verifyWebhook, webhookRetryDelayMs, type WebhookPayload } from '../../libs/domain/src/index.js';
import { FetchWebhookSender } from '../../apps/scheduler/src/notifications/fetch-webhook-sender.js';
import { createTestDatabase } from '../support/database.js';
import { freePort, waitFor } from '../support/processes.js';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';

const logger = pino({ level: 'silent' });

interface Received {
  headers: IncomingMessage['headers'];
  rawBody: string;
}

/** A local receiver: `answer(n)` decides the status of the n-th request (1-based); every request is kept. */
async function startReceiver(
  answer: (requestNo: number) => { status: number; body?: string } | 'hang',
): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, rawBody: Buffer.concat(chunks).toString('utf8') });
      const reply = answer(received.length);
      if (reply === 'hang') {
        hanging.push(response);
        return;
      }
      response.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/gpupool`,
    received,
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('webhook delivery (real PostgreSQL, local HTTP receivers)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let webhooks: DeliverWebhookUseCase;

  /** The scheduler's wiring of webhook.deliver: the TypeORM repository and transactions, fetch. */
  function deliverer(options: WebhookDeliveryOptions = {}): DeliverWebhookUseCase {
    return new DeliverWebhookUseCase(
      new TypeormTransactionRunner(dataSource),
      new TypeormWebhookDeliveryRepository(dataSource),
      new FetchWebhookSender({ allowLoopbackHttp: true }),
      logger,
      options,
    );
  }

  beforeAll(async () => {
    database = await createTestDatabase('webhooks');
    dataSource = createDataSource({ url: database.url, poolSize: 12 });
    await dataSource.initialize();
    webhooks = deliverer();
  });
  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  async function seedProject(): Promise<{ projectId: string; piUserId: string }> {
    const fixture = await seedApprovedRequest(dataSource);
    const [project] = await dataSource.query<{ pi_user_id: string }[]>(
      'SELECT pi_user_id FROM projects WHERE id = $1',
      [fixture.projectId],
    );
    if (!project) throw new Error('no project');
    return { projectId: fixture.projectId, piUserId: project.pi_user_id };
  }

  async function subscribe(
    fields: Partial<WebhookSubscriptionEntity> & { url: string; createdBy: string },
  ): Promise<{ id: string; secret: string }> {
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const row = await dataSource.getRepository(WebhookSubscriptionEntity).save({
      projectId: null,
      events: [],
      active: true,
      disabledAt: null,
      secret,
      ...fields,
    });
    return { id: row.id, secret: row.secret };
  }

  function record(input: NotificationInput) {
    return dataSource.transaction((manager) => recordNotification(manager, input));
  }

  function alert(projectId: string, dedupeKey = `usage_threshold:${randomUUID()}:80`): NotificationInput {
    return {
      projectId,
      kind: 'usage_threshold',
      dedupeKey,
      title: '80% of the allocation used',
      body: 'Allocation H200 has used 80% of its granted GPU-hours.',
      data: { thresholdPercent: 80, consumedGpuSeconds: '2880000' },
    };
  }

  /** The delivery of `recorded` to one subscription (platform-wide subscriptions get one too). */
  async function deliveryTo(
    recorded: RecordedNotification | null,
    subscription: { id: string },
  ): Promise<string> {
    const [row] = await dataSource.query<{ id: string }[]>(
      'SELECT id FROM webhook_deliveries WHERE notification_id = $1 AND subscription_id = $2',
      [recorded?.notificationId, subscription.id],
    );
    if (!row) throw new Error('no delivery to that subscription');
    return row.id;
  }

  /** Makes a rescheduled delivery due now, as if its backoff had passed. */
  async function makeDue(deliveryId: string): Promise<void> {
    await dataSource.query(
      `UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() - interval '1 second' WHERE id = $1`,
      [deliveryId],
    );
  }

  async function deliveryRow(deliveryId: string) {
    const [row] = await dataSource.query<
      {
        status: string;
        attempts: number;
        last_status_code: number | null;
        last_error: string | null;
        delivered_at: Date | null;
        due_in_ms: number;
      }[]
    >(
      `SELECT status, attempts, last_status_code, last_error, delivered_at,
              (extract(epoch FROM next_attempt_at - clock_timestamp()) * 1000)::float8 AS due_in_ms
         FROM webhook_deliveries WHERE id = $1`,
      [deliveryId],
    );
    if (!row) throw new Error(`no delivery ${deliveryId}`);
    return row;
  }

  async function attemptRows(deliveryId: string) {
    return dataSource.query<
      { attempt: number; status_code: number | null; error: string | null; response_snippet: string | null }[]
    >(
      `SELECT attempt, status_code, error, response_snippet FROM webhook_delivery_attempts
        WHERE delivery_id = $1 ORDER BY attempt`,
      [deliveryId],
    );
  }

  it('delivers after two 500s: three attempts logged, backoff between them, signed for the receiver', async () => {
    const { projectId, piUserId } = await seedProject();
    const receiver = await startReceiver((n) =>
      n <= 2 ? { status: 500, body: `boom ${n}` } : { status: 200, body: 'ok' },
    );
    try {
      const subscription = await subscribe({ projectId, url: receiver.url, createdBy: piUserId });
      const recorded = await record(alert(projectId));
      const deliveryId = await deliveryTo(recorded, subscription);
      expect(recorded?.deliveryIds).toContain(deliveryId);

      expect(await webhooks.execute(deliveryId)).toEqual({
        outcome: 'retry',
        attempt: 1,
        statusCode: 500,
        error: 'HTTP 500',
      });
      const afterFirst = await deliveryRow(deliveryId);
      expect(afterFirst).toMatchObject({ status: 'pending', attempts: 1, last_status_code: 500 });
      // 2 s ± 10% jitter, minus the moment since.
      expect(afterFirst.due_in_ms).toBeGreaterThan(1_500);
      expect(afterFirst.due_in_ms).toBeLessThanOrEqual(2_200);
      // Not due yet: a redelivered job does nothing.
      expect(await webhooks.execute(deliveryId)).toEqual({ outcome: 'skipped', reason: 'not_due' });

      await makeDue(deliveryId);
      expect(await webhooks.execute(deliveryId)).toMatchObject({ outcome: 'retry', attempt: 2 });
      const afterSecond = await deliveryRow(deliveryId);
      expect(afterSecond.due_in_ms).toBeGreaterThan(3_300);
      expect(afterSecond.due_in_ms).toBeLessThanOrEqual(4_400);

      await makeDue(deliveryId);
      expect(await webhooks.execute(deliveryId)).toEqual({
        outcome: 'delivered',
        attempt: 3,
        statusCode: 200,
        error: null,
      });
      expect(await webhooks.execute(deliveryId)).toEqual({ outcome: 'skipped', reason: 'not_pending' });

      const final = await deliveryRow(deliveryId);
      expect(final).toMatchObject({
        status: 'delivered',
        attempts: 3,
        last_status_code: 200,
        last_error: null,
      });
      expect(final.delivered_at).toBeInstanceOf(Date);
      expect(await attemptRows(deliveryId)).toEqual([
        { attempt: 1, status_code: 500, error: 'HTTP 500', response_snippet: 'boom 1' },
        { attempt: 2, status_code: 500, error: 'HTTP 500', response_snippet: 'boom 2' },
        { attempt: 3, status_code: 200, error: null, response_snippet: 'ok' },
      ]);

      // The receiver's side: three signed POSTs of the same payload.
      expect(receiver.received).toHaveLength(3);
      for (const request of receiver.received) {
        const signature = request.headers['gpupool-signature'];
        expect(verifyWebhook(subscription.secret, request.rawBody, String(signature)).ok).toBe(true);
        expect(verifyWebhook('whsec_someone-else', request.rawBody, String(signature)).ok).toBe(false);
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.headers['gpupool-event']).toBe('usage_threshold');
        expect(request.headers['gpupool-delivery']).toBe(deliveryId);
        const payload = JSON.parse(request.rawBody) as WebhookPayload;
        expect(payload).toEqual({
          id: recorded?.notificationId,
          kind: 'usage_threshold',
          createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          projectId,
          allocationId: null,
          title: '80% of the allocation used',
          body: 'Allocation H200 has used 80% of its granted GPU-hours.',
          data: { thresholdPercent: 80, consumedGpuSeconds: '2880000' },
        });
      }
    } finally {
      await receiver.close();
    }
  });

  it('records each alert once: again with the same key, and from 8 concurrent transactions', async () => {
    const { projectId, piUserId } = await seedProject();
    const other = await seedProject();
    const url = 'http://127.0.0.1:9/unused';
    const projectWide = await subscribe({ projectId, url, createdBy: piUserId });
    const platformWide = await subscribe({ projectId: null, url, createdBy: piUserId });
    const wantsThisKind = await subscribe({
      projectId,
      url,
      createdBy: piUserId,
      events: ['usage_threshold'],
    });
    await subscribe({ projectId, url, createdBy: piUserId, events: ['refund', 'burn_rate'] });
    await subscribe({ projectId, url, createdBy: piUserId, active: false, disabledAt: new Date() });
    await subscribe({ projectId: other.projectId, url, createdBy: other.piUserId });
    const matching = [projectWide.id, platformWide.id, wantsThisKind.id].sort();

    async function subscriptionsOf(notificationId: string): Promise<string[]> {
      const rows = await dataSource.query<{ subscription_id: string; status: string }[]>(
        'SELECT subscription_id, status FROM webhook_deliveries WHERE notification_id = $1',
        [notificationId],
      );
      expect(rows.every((row) => row.status === 'pending')).toBe(true);
      return rows.map((row) => row.subscription_id).sort();
    }

    const input = alert(projectId);
    const first = await record(input);
    expect(first).not.toBeNull();
    expect(first?.deliveryIds).toHaveLength(3);
    expect(await subscriptionsOf(first?.notificationId ?? '')).toEqual(matching);
    expect(await record(input)).toBeNull();
    expect(await record({ ...input, title: 'changed' })).toBeNull();

    const racing = alert(projectId);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () =>
        dataSource.transaction(async (manager) => {
          const result = await recordNotification(manager, racing);
          // Hold the transaction open a moment so the others really wait on the unique key.
          await manager.query('SELECT pg_sleep(0.05)');
          return result;
        }),
      ),
    );
    const winners = outcomes.filter((outcome) => outcome !== null);
    expect(winners).toHaveLength(1);
    const [counts] = await dataSource.query<{ notifications: number; deliveries: number }[]>(
      `SELECT (SELECT count(*) FROM notifications WHERE dedupe_key = $1)::int AS notifications,
              (SELECT count(*) FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
                WHERE n.dedupe_key = $1)::int AS deliveries`,
      [racing.dedupeKey],
    );
    expect(counts).toEqual({ notifications: 1, deliveries: 3 });
    expect(await subscriptionsOf(winners[0]?.notificationId ?? '')).toEqual(matching);

    // Other projects' subscriptions get nothing; a platform notice reaches only platform-wide ones.
    const notice = await record({ ...alert(other.projectId), projectId: null, kind: 'refund' });
    expect(await subscriptionsOf(notice?.notificationId ?? '')).toEqual([platformWide.id]);
  });

  it('refuses to record outside a transaction', async () => {
    const { projectId } = await seedProject();
    await expect(recordNotification(dataSource.manager, alert(projectId))).rejects.toThrow(
      /inside a transaction/,
    );
  });

  it('gives up after 8 failed attempts, each logged, with the backoff schedule between them', async () => {
    const { projectId, piUserId } = await seedProject();
    const receiver = await startReceiver(() => ({ status: 503, body: 'x'.repeat(2_000) }));
    try {
      const subscription = await subscribe({ projectId, url: receiver.url, createdBy: piUserId });
      const recorded = await record(alert(projectId));
      const deliveryId = await deliveryTo(recorded, subscription);
      const outcomes: string[] = [];
      for (let attempt = 1; attempt <= 8; attempt += 1) {
        await makeDue(deliveryId);
        const outcome = await webhooks.execute(deliveryId);
        outcomes.push(outcome.outcome);
        const row = await deliveryRow(deliveryId);
        expect(row.attempts).toBe(attempt);
        if (attempt < 8) {
          const expected = webhookRetryDelayMs(attempt, deliveryId);
          expect(row.due_in_ms).toBeGreaterThan(expected - 500);
          expect(row.due_in_ms).toBeLessThanOrEqual(expected + 1);
        }
      }
      expect(outcomes).toEqual([...Array<string>(7).fill('retry'), 'failed']);
      await makeDue(deliveryId);
      expect(await webhooks.execute(deliveryId)).toEqual({ outcome: 'skipped', reason: 'not_pending' });
      expect(await deliveryRow(deliveryId)).toMatchObject({
        status: 'failed',
        attempts: 8,
        last_status_code: 503,
        last_error: 'HTTP 503',
      });
      const attempts = await attemptRows(deliveryId);
      expect(attempts.map((row) => row.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(attempts.every((row) => row.status_code === 503 && row.response_snippet?.length === 500)).toBe(
        true,
      );
      expect(receiver.received).toHaveLength(8);
    } finally {
      await receiver.close();
    }
  });

  it('logs refused connections and timeouts as failed attempts without a status code', async () => {
    const { projectId, piUserId } = await seedProject();
    const closedPort = await freePort();
    const nobody = await subscribe({
      projectId,
      url: `http://127.0.0.1:${closedPort}/nobody`,
      createdBy: piUserId,
    });
    const refused = await record(alert(projectId));
    const refusedId = await deliveryTo(refused, nobody);
    expect(await webhooks.execute(refusedId)).toMatchObject({
      outcome: 'retry',
      attempt: 1,
      statusCode: null,
    });
    expect((await attemptRows(refusedId))[0]?.error).toMatch(/fetch failed|ECONNREFUSED/);

    const silent = await startReceiver(() => 'hang');
    try {
      const { projectId: quietProject, piUserId: quietPi } = await seedProject();
      const quiet = await subscribe({ projectId: quietProject, url: silent.url, createdBy: quietPi });
      const slow = await record(alert(quietProject));
      const slowId = await deliveryTo(slow, quiet);
      const impatient = deliverer({ timeoutMs: 300 });
      expect(await impatient.execute(slowId)).toEqual({
        outcome: 'retry',
        attempt: 1,
        statusCode: null,
        error: 'timed out after 300 ms',
      });
    } finally {
      await silent.close();
    }
  });

  it('refuses, at delivery, receivers on loopback or names that resolve there (SSRF, DNS rebinding): never connected, nothing echoed', async () => {
    const receiver = await startReceiver(() => ({ status: 200, body: 'secret instance metadata' }));
    try {
      const strict = new DeliverWebhookUseCase(
        new TypeormTransactionRunner(dataSource),
        new TypeormWebhookDeliveryRepository(dataSource),
        new FetchWebhookSender({ allowLoopbackHttp: false }),
        logger,
      );
      const port = new URL(receiver.url).port;
      // Registered when the rules or the DNS answers were different: the sender checks again.
      for (const [url, why] of [
        [receiver.url, /^refused: url must be an https:\/\/ URL/],
        [
          `https://localhost:${port}/hooks`,
          /^refused: localhost resolves to (127\.0\.0\.1|::1) is a loopback address/,
        ],
      ] as const) {
        const { projectId, piUserId } = await seedProject();
        const subscription = await subscribe({ projectId, url, createdBy: piUserId });
        const deliveryId = await deliveryTo(await record(alert(projectId)), subscription);
        expect(await strict.execute(deliveryId)).toMatchObject({ outcome: 'retry', statusCode: null });
        const [attempt] = await attemptRows(deliveryId);
        expect(attempt?.error).toMatch(why);
        expect(JSON.stringify(attempt)).not.toContain('secret instance metadata');
      }
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });

  it('a delivery of a disabled subscription is cancelled, not sent', async () => {
    const { projectId, piUserId } = await seedProject();
    const receiver = await startReceiver(() => ({ status: 200 }));
    try {
      const subscription = await subscribe({ projectId, url: receiver.url, createdBy: piUserId });
      const recorded = await record(alert(projectId));
      await dataSource
        .getRepository(WebhookSubscriptionEntity)
        .update({ id: subscription.id }, { active: false, disabledAt: new Date() });
      const deliveryId = await deliveryTo(recorded, subscription);
      expect(await webhooks.execute(deliveryId)).toEqual({ outcome: 'cancelled' });
      expect(await deliveryRow(deliveryId)).toMatchObject({
        status: 'failed',
        last_error: 'subscription disabled',
      });
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });

  describe('through the queue (real Redis)', () => {
    let transport: QueueTransport;
    let producer: JobProducer;

    beforeEach(() => {
      transport = new QueueTransport({
        backend: 'redis',
        redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        databaseUrl: database.url,
        prefix: `wh${randomBytes(4).toString('hex')}`,
      });
      producer = new JobProducer(transport);
    });
    afterEach(async () => {
      await producer.queue('notifications').obliterate({ force: true });
      await producer.close();
      await transport.close();
    });

    it('deliveryJobs enqueued after commit → a BullMQ worker delivers', async () => {
      const { projectId, piUserId } = await seedProject();
      const receiver = await startReceiver(() => ({ status: 204 }));
      const worker = transport.createWorker('notifications', (job) =>
        webhooks.execute((job.data as { deliveryId: string }).deliveryId),
      );
      try {
        const subscription = await subscribe({ projectId, url: receiver.url, createdBy: piUserId });
        const recorded = await record(alert(projectId));
        const sent = await enqueueAfterCommit(producer, deliveryJobs(recorded?.deliveryIds ?? []), {
          logger,
          recoveredBy: 'reconcile.webhooks',
        });
        expect(sent).toBe(true);
        const deliveryId = await deliveryTo(recorded, subscription);
        await waitFor('the delivery', async () => (await deliveryRow(deliveryId)).status === 'delivered');
        expect(receiver.received).toHaveLength(1);
      } finally {
        await worker.close();
        await receiver.close();
      }
    });

    it('the sweep enqueues every due pending delivery once, and skips those not due', async () => {
      // Earlier tests' pending deliveries come due at their own pace: out of this test's way.
      await dataSource.query(
        `UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() + interval '1 day' WHERE status = 'pending'`,
      );
      const { projectId, piUserId } = await seedProject();
      const subscription = await subscribe({
        projectId,
        url: 'http://127.0.0.1:9/unused',
        createdBy: piUserId,
      });
      const due = await record(alert(projectId));
      const later = await record(alert(projectId));
      const dueId = await deliveryTo(due, subscription);
      const laterId = await deliveryTo(later, subscription);
      await dataSource.query(
        `UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() + interval '1 hour' WHERE notification_id = $1`,
        [later?.notificationId],
      );
      const reconciler = new SweepWebhooksUseCase(
        new TypeormWebhookDeliveryRepository(dataSource),
        producer,
        logger,
      );
      const first = await reconciler.execute();
      // The delivery to this subscription and the one to the platform-wide subscription of an earlier test.
      expect(first).toEqual({ due: 2, enqueued: 2 });
      const queue = producer.queue('notifications');
      expect(await (await queue.getJob(`webhook-${dueId}`))?.getState()).toBe('waiting');
      expect(await queue.getJob(`webhook-${laterId}`)).toBeUndefined();
      // Jobs still waiting are not sent twice.
      expect(await reconciler.execute()).toEqual({ due: first.due, enqueued: 0 });
      // Redis lost the job: the next sweep sends it again.
      await (await queue.getJob(`webhook-${dueId}`))?.remove();
      expect(await reconciler.execute()).toEqual({ due: first.due, enqueued: 1 });
      // A job that fails is removed (removeOnFail), so its id never blocks the next sweep's job.
      const failing = transport.createWorker('notifications', () => Promise.reject(new Error('worker lost')));
      try {
        await waitFor(
          'the failed job to be gone',
          async () => (await queue.getJob(`webhook-${dueId}`)) === undefined,
        );
      } finally {
        await failing.close();
      }
      await reconciler.execute();
      expect(await (await queue.getJob(`webhook-${dueId}`))?.getState()).toBe('waiting');
    });
  });
});
