import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { FetchWebhookSender } from '../../apps/scheduler/src/notifications/fetch-webhook-sender.js';
import { DeliverWebhookUseCase } from '../../libs/application/src/index.js';
import {
  recordNotification,
  TypeormTransactionRunner,
  TypeormWebhookDeliveryRepository,
  type NotificationInput,
} from '../../libs/persistence/src/index.js';
import { RequestFixtures } from '../factories/request-fixtures.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

interface Actor {
  id: string;
  token: string;
}

describe('notifications and webhooks (e2e)', () => {
  let api: ApiHarness;
  let fixtures: RequestFixtures;
  let db: DataSource;
  let projectA: string;
  let projectB: string;
  let piA: Actor;
  let memberA: Actor;
  let piB: Actor;
  let outsider: Actor;
  let dedupe = 0;

  const auth = (who: Actor | string) => ({
    authorization: `Bearer ${typeof who === 'string' ? who : who.token}`,
  });
  const admin = () => auth(api.adminToken);

  async function actor(organizationId: string): Promise<Actor> {
    const user = await fixtures.makeUser({ organizationId });
    return { id: user.id, token: await api.login(user.email, 'password-123') };
  }

  async function notify(input: Partial<NotificationInput>): Promise<string> {
    dedupe += 1;
    const recorded = await db.transaction((manager) =>
      recordNotification(manager, {
        kind: 'usage_threshold',
        dedupeKey: `e2e:${dedupe}`,
        title: `Alert ${dedupe}`,
        body: 'Allocation H200 has used 80% of its granted GPU-hours.',
        data: { thresholdPercent: 80 },
        ...input,
      }),
    );
    if (!recorded) throw new Error('not recorded');
    // Distinct created_at values keep "newest first" unambiguous.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return recorded.notificationId;
  }

  async function subscriptionCount(): Promise<number> {
    return fixtures.count('webhook_subscriptions');
  }

  beforeAll(async () => {
    api = await startApi('notifications');
    fixtures = await RequestFixtures.connect(api.databaseUrl);
    db = fixtures.db;
    const organization = await fixtures.makeOrganization();
    piA = await actor(organization.id);
    memberA = await actor(organization.id);
    piB = await actor(organization.id);
    outsider = await actor(organization.id);
    projectA = (
      await fixtures.makeProject({
        organizationId: organization.id,
        piUserId: piA.id,
        memberIds: [memberA.id],
      })
    ).id;
    projectB = (await fixtures.makeProject({ organizationId: organization.id, piUserId: piB.id })).id;
  });
  afterAll(async () => {
    await fixtures.close();
    await api.close();
  });

  describe('webhook subscriptions', () => {
    let subscriptionA: string;

    it('lets a project PI subscribe and shows the signing secret only once', async () => {
      const created = await api.http
        .post('/v1/webhooks')
        .set(auth(piA))
        .send({ projectId: projectA, url: 'https://hooks.example.kr/gpupool', events: ['usage_threshold'] });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        projectId: projectA,
        url: 'https://hooks.example.kr/gpupool',
        events: ['usage_threshold'],
        active: true,
        createdBy: piA.id,
        createdAt: expect.any(String),
        disabledAt: null,
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/),
      });
      subscriptionA = created.body.id as string;

      const one = await api.http.get(`/v1/webhooks/${subscriptionA}`).set(auth(piA));
      expect(one.status).toBe(200);
      expect(one.body).not.toHaveProperty('secret');
      expect(one.body).toMatchObject({ id: subscriptionA, active: true });
      const listed = await api.http.get(`/v1/webhooks?projectId=${projectA}`).set(auth(piA));
      expect(listed.status).toBe(200);
      expect(listed.body.nextCursor).toBeNull();
      expect(listed.body.items).toHaveLength(1);
      expect(listed.body.items[0]).not.toHaveProperty('secret');
      expect(JSON.stringify(listed.body)).not.toContain(created.body.secret as string);

      const everyKind = await api.http
        .post('/v1/webhooks')
        .set(auth(piA))
        .send({ projectId: projectA, url: 'http://127.0.0.1:8080/hook' });
      expect(everyKind.status).toBe(201);
      expect(everyKind.body.events).toEqual([]);
      expect(everyKind.body.secret).not.toBe(created.body.secret);
    });

    it.each([
      [{ projectId: 'PROJECT', url: 'ftp://files.example.kr/drop' }, 'url'],
      [{ projectId: 'PROJECT', url: 'javascript:alert(1)' }, 'url'],
      [{ projectId: 'PROJECT', url: 'not a url' }, 'url'],
      [{ projectId: 'PROJECT' }, 'url'],
      [{ projectId: 'PROJECT', url: 'https://ok.example.kr', events: ['usage_treshold'] }, 'events[0]'],
      [{ projectId: 'PROJECT', url: 'https://ok.example.kr', events: ['refund', 'refund'] }, 'events'],
      [{ projectId: 'PROJECT', url: 'https://ok.example.kr', secret: 'mine' }, '(body)'],
      [{ projectId: 'not-a-uuid', url: 'https://ok.example.kr' }, 'projectId'],
    ])('refuses %j with 400 naming %s, writing nothing', async (body, field) => {
      const before = await subscriptionCount();
      const response = await api.http
        .post('/v1/webhooks')
        .set(auth(piA))
        .send({ ...body, projectId: body.projectId === 'PROJECT' ? projectA : body.projectId });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      expect((response.body.error.details as { field: string }[]).map((detail) => detail.field)).toContain(
        field,
      );
      expect(await subscriptionCount()).toBe(before);
    });

    it("keeps other projects' subscriptions out of reach: 404 outside the project, 403 for a member who is not PI", async () => {
      const before = await subscriptionCount();
      const foreign = await api.http
        .post('/v1/webhooks')
        .set(auth(piB))
        .send({ projectId: projectA, url: 'https://evil.example.kr/' });
      expect(foreign.status).toBe(404);
      const member = await api.http
        .post('/v1/webhooks')
        .set(auth(memberA))
        .send({ projectId: projectA, url: 'https://member.example.kr/' });
      expect(member.status).toBe(403);
      expect(member.body.error.code).toBe('PI_REQUIRED');
      const platform = await api.http
        .post('/v1/webhooks')
        .set(auth(piA))
        .send({ url: 'https://all.example.kr/' });
      expect(platform.status).toBe(403);
      expect(platform.body.error.code).toBe('ADMIN_REQUIRED');
      expect(await subscriptionCount()).toBe(before);

      for (const path of [`/v1/webhooks/${subscriptionA}`, `/v1/webhooks/${subscriptionA}/deliveries`]) {
        expect((await api.http.get(path).set(auth(piB))).status).toBe(404);
        expect((await api.http.get(path).set(auth(outsider))).status).toBe(404);
        expect((await api.http.get(path).set(auth(memberA))).status).toBe(403);
      }
      expect((await api.http.delete(`/v1/webhooks/${subscriptionA}`).set(auth(piB))).status).toBe(404);
      expect((await api.http.get(`/v1/webhooks?projectId=${projectA}`).set(auth(piB))).status).toBe(404);
      const ownList = await api.http.get('/v1/webhooks').set(auth(piB));
      expect(ownList.status).toBe(200);
      expect(ownList.body.items).toEqual([]);
      const unknown = await api.http.get('/v1/webhooks/00000000-0000-4000-8000-000000000000').set(admin());
      expect(unknown.status).toBe(404);
      expect((await api.http.get('/v1/webhooks/nope').set(admin())).status).toBe(400);
    });

    it('refuses receivers that are not https on a public address (SSRF): 400 naming the url, nothing stored', async () => {
      const strict = await startApi('notifications_ssrf', { WEBHOOK_ALLOW_LOOPBACK_HTTP: 'false' });
      try {
        const before = await strict.http
          .get('/v1/webhooks')
          .set({ authorization: `Bearer ${strict.adminToken}` });
        for (const url of [
          'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
          'https://169.254.169.254/latest/meta-data/',
          'https://[fd00:ec2::254]/latest/meta-data/',
          'https://2852039166/',
          'https://127.0.0.1:5432/',
          'https://localhost:6379/',
          'https://10.0.0.8/hooks',
          'http://hooks.example.kr/gpupool',
        ]) {
          const response = await strict.http
            .post('/v1/webhooks')
            .set({ authorization: `Bearer ${strict.adminToken}` })
            .send({ url });
          expect({ url, status: response.status, code: response.body.error.code }).toEqual({
            url,
            status: 400,
            code: 'VALIDATION_FAILED',
          });
          expect(response.body.error.details[0]).toMatchObject({ field: 'url' });
          expect(response.body.error.message).toMatch(/https|public address/);
        }
        const after = await strict.http
          .get('/v1/webhooks')
          .set({ authorization: `Bearer ${strict.adminToken}` });
        expect(after.body.items).toHaveLength(before.body.items.length);
      } finally {
        await strict.close();
      }
    });

    it('lets admins subscribe platform-wide; PIs do not see those', async () => {
      const created = await api.http
        .post('/v1/webhooks')
        .set(admin())
        .send({ url: 'https://noc.gpupool.kr/hooks', events: ['recall_proposed', 'refund'] });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ projectId: null, events: ['recall_proposed', 'refund'] });
      const adminList = await api.http.get('/v1/webhooks').set(admin());
      expect((adminList.body.items as { id: string }[]).map((item) => item.id)).toContain(created.body.id);
      const piList = await api.http.get('/v1/webhooks').set(auth(piA));
      expect((piList.body.items as { id: string }[]).map((item) => item.id)).not.toContain(created.body.id);
      expect((await api.http.get(`/v1/webhooks/${created.body.id}`).set(auth(piA))).status).toBe(404);
    });

    it('serves the delivery log: each delivery with every attempt', async () => {
      const receiver: Server = createServer((_request, response) => {
        response.writeHead(500).end('receiver down');
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = receiver.address() as AddressInfo;
        const created = await api.http
          .post('/v1/webhooks')
          .set(auth(piA))
          .send({ projectId: projectA, url: `http://127.0.0.1:${port}/hook`, events: ['burn_rate'] });
        expect(created.status).toBe(201);
        await notify({ projectId: projectA, kind: 'burn_rate', title: 'Burning fast' });
        const [delivery] = await db.query<{ id: string }[]>(
          'SELECT id FROM webhook_deliveries WHERE subscription_id = $1',
          [created.body.id],
        );
        const sent = await new DeliverWebhookUseCase(
          new TypeormTransactionRunner(db),
          new TypeormWebhookDeliveryRepository(db),
          new FetchWebhookSender({ allowLoopbackHttp: true }),
          pino({ level: 'silent' }),
        ).execute(delivery?.id ?? '');
        expect(sent).toMatchObject({ outcome: 'retry', attempt: 1, statusCode: 500 });

        const log = await api.http.get(`/v1/webhooks/${created.body.id}/deliveries`).set(auth(piA));
        expect(log.status).toBe(200);
        expect(log.body).toEqual({
          items: [
            {
              id: delivery?.id,
              subscriptionId: created.body.id,
              notificationId: expect.any(String),
              kind: 'burn_rate',
              status: 'pending',
              attempts: 1,
              nextAttemptAt: expect.any(String),
              lastStatusCode: 500,
              lastError: 'HTTP 500',
              deliveredAt: null,
              createdAt: expect.any(String),
              attemptLog: [
                {
                  attempt: 1,
                  startedAt: expect.any(String),
                  durationMs: expect.any(Number),
                  statusCode: 500,
                  error: 'HTTP 500',
                  responseSnippet: 'receiver down',
                },
              ],
            },
          ],
          nextCursor: null,
        });
        const delivered = await api.http
          .get(`/v1/webhooks/${created.body.id}/deliveries?status=delivered`)
          .set(auth(piA));
        expect(delivered.body.items).toEqual([]);
      } finally {
        receiver.closeAllConnections();
        await new Promise<void>((resolve) => receiver.close(() => resolve()));
      }
    });

    it('disables a subscription on DELETE (twice is fine) and ends its pending deliveries', async () => {
      await notify({ projectId: projectA });
      const pending = await fixtures.count(
        'webhook_deliveries',
        "subscription_id = $1 AND status = 'pending'",
        [subscriptionA],
      );
      expect(pending).toBe(1);
      const deleted = await api.http.delete(`/v1/webhooks/${subscriptionA}`).set(auth(piA));
      expect(deleted.status).toBe(204);
      expect((await api.http.delete(`/v1/webhooks/${subscriptionA}`).set(auth(piA))).status).toBe(204);
      const one = await api.http.get(`/v1/webhooks/${subscriptionA}`).set(auth(piA));
      expect(one.body).toMatchObject({ active: false, disabledAt: expect.any(String) });
      expect(
        await fixtures.count('webhook_deliveries', "subscription_id = $1 AND status = 'failed'", [
          subscriptionA,
        ]),
      ).toBe(1);
      const active = await api.http.get(`/v1/webhooks?projectId=${projectA}`).set(auth(piA));
      expect((active.body.items as { id: string }[]).map((item) => item.id)).not.toContain(subscriptionA);
      const all = await api.http
        .get(`/v1/webhooks?projectId=${projectA}&includeDisabled=true`)
        .set(auth(piA));
      expect((all.body.items as { id: string }[]).map((item) => item.id)).toContain(subscriptionA);
      // Nothing new is queued for it.
      await notify({ projectId: projectA });
      expect(
        await fixtures.count('webhook_deliveries', "subscription_id = $1 AND status = 'pending'", [
          subscriptionA,
        ]),
      ).toBe(0);
      expect(await fixtures.count('audit_events', 'subject_id = $1', [subscriptionA])).toBe(2);
    });
  });

  describe('notifications', () => {
    let a1: string;
    let a2: string;
    let b1: string;
    let personal: string;

    beforeAll(async () => {
      // Only this block's rows: earlier tests recorded some for project A too.
      await db.query('DELETE FROM webhook_delivery_attempts');
      await db.query('DELETE FROM webhook_deliveries');
      await db.query('DELETE FROM notifications');
      a1 = await notify({ projectId: projectA, title: 'A: 50% used' });
      b1 = await notify({ projectId: projectB, title: 'B: 80% used' });
      a2 = await notify({ projectId: projectA, kind: 'allocation_expired', title: 'A: expired' });
      personal = await notify({ projectId: null, userId: outsider.id, kind: 'refund', title: 'Your refund' });
    });

    const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);

    it('shows each person the notifications of their projects (and their own), newest first; admins all', async () => {
      const forPi = await api.http.get('/v1/notifications').set(auth(piA));
      expect(forPi.status).toBe(200);
      expect(ids(forPi.body)).toEqual([a2, a1]);
      expect(forPi.body.items[0]).toEqual({
        id: a2,
        projectId: projectA,
        allocationId: null,
        userId: null,
        kind: 'allocation_expired',
        title: 'A: expired',
        body: 'Allocation H200 has used 80% of its granted GPU-hours.',
        data: { thresholdPercent: 80 },
        createdAt: expect.any(String),
        readAt: null,
      });
      expect(ids((await api.http.get('/v1/notifications').set(auth(memberA))).body)).toEqual([a2, a1]);
      expect(ids((await api.http.get('/v1/notifications').set(auth(piB))).body)).toEqual([b1]);
      expect(ids((await api.http.get('/v1/notifications').set(auth(outsider))).body)).toEqual([personal]);
      expect(ids((await api.http.get('/v1/notifications').set(admin())).body)).toEqual([
        personal,
        a2,
        b1,
        a1,
      ]);
      expect(ids((await api.http.get(`/v1/notifications?projectId=${projectB}`).set(admin())).body)).toEqual([
        b1,
      ]);
      expect(
        ids(
          (await api.http.get(`/v1/notifications?projectId=${projectA}&kind=usage_threshold`).set(auth(piA)))
            .body,
        ),
      ).toEqual([a1]);
    });

    it("answers 404 for another project's notifications and 400 for bad filters", async () => {
      expect((await api.http.get(`/v1/notifications?projectId=${projectA}`).set(auth(piB))).status).toBe(404);
      expect((await api.http.get('/v1/notifications?unread=yes').set(auth(piA))).status).toBe(400);
      expect((await api.http.get('/v1/notifications?color=red').set(auth(piA))).status).toBe(400);
      expect((await api.http.get('/v1/notifications?projectId=x').set(auth(piA))).status).toBe(400);
    });

    it('pages with limit and cursor', async () => {
      const first = await api.http.get('/v1/notifications?limit=1').set(auth(piA));
      expect(ids(first.body)).toEqual([a2]);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await api.http
        .get(`/v1/notifications?limit=1&cursor=${encodeURIComponent(first.body.nextCursor as string)}`)
        .set(auth(piA));
      expect(ids(second.body)).toEqual([a1]);
      expect(second.body.nextCursor).toBeNull();
    });

    it('marks read (again: no change); unread=true leaves read ones out; others get 404', async () => {
      expect((await api.http.post(`/v1/notifications/${a1}/read`).set(auth(piB))).status).toBe(404);
      expect((await api.http.post(`/v1/notifications/${personal}/read`).set(auth(piA))).status).toBe(404);
      expect((await api.http.post('/v1/notifications/not-a-uuid/read').set(auth(piA))).status).toBe(400);

      const read = await api.http.post(`/v1/notifications/${a1}/read`).set(auth(memberA));
      expect(read.status).toBe(204);
      const [{ read_at: firstReadAt } = { read_at: null }] = await db.query<{ read_at: Date | null }[]>(
        'SELECT read_at FROM notifications WHERE id = $1',
        [a1],
      );
      expect(firstReadAt).toBeInstanceOf(Date);
      expect((await api.http.post(`/v1/notifications/${a1}/read`).set(auth(piA))).status).toBe(204);
      const [{ read_at: secondReadAt } = { read_at: null }] = await db.query<{ read_at: Date | null }[]>(
        'SELECT read_at FROM notifications WHERE id = $1',
        [a1],
      );
      expect(secondReadAt).toEqual(firstReadAt);

      const unread = await api.http.get('/v1/notifications?unread=true').set(auth(piA));
      expect(ids(unread.body)).toEqual([a2]);
      const all = await api.http.get('/v1/notifications').set(auth(piA));
      expect(all.body.items[1]).toMatchObject({ id: a1, readAt: expect.any(String) });
      expect((await api.http.post(`/v1/notifications/${personal}/read`).set(auth(outsider))).status).toBe(
        204,
      );
    });
  });
});
