import type { Principal, Role } from '#domain';
import {
  WebhookSubscriptionRepository,
  type NewWebhookSubscription,
  type Page,
  type Tx,
  type WebhookDeliveryWithAttempts,
  type WebhookSubscriptionEntity,
} from '#persistence';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import { projectAccessWithMembers } from '../../../../test/fakes/requests.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { WEBHOOK_SECRET_PREFIX, WebhookSubscriptionsUseCase } from './webhook-subscriptions.use-case.js';
import { ResolvingWebhookTargetCheck } from './webhook-target-check.js';

/** Subscriptions in memory; counts disables so a second one can be seen to write nothing. */
class FakeWebhookSubscriptions extends WebhookSubscriptionRepository {
  readonly rows = new Map<string, WebhookSubscriptionEntity>();
  disables = 0;

  override insert(_tx: Tx, subscription: NewWebhookSubscription): Promise<WebhookSubscriptionEntity> {
    const row = {
      ...subscription,
      id: `s-${this.rows.size + 1}`,
      active: true,
      disabledAt: null,
      createdAt: new Date('2026-06-01T00:00:00Z'),
    } as WebhookSubscriptionEntity;
    this.rows.set(row.id, row);
    return Promise.resolve({ ...row });
  }
  override list(): Promise<Page<WebhookSubscriptionEntity>> {
    return Promise.resolve({ items: [...this.rows.values()], nextCursor: null });
  }
  override findById(id: string): Promise<WebhookSubscriptionEntity | null> {
    const row = this.rows.get(id);
    return Promise.resolve(row ? { ...row } : null);
  }
  override disable(_tx: Tx, id: string): Promise<Date> {
    this.disables += 1;
    const at = new Date('2026-06-02T00:00:00Z');
    const row = this.rows.get(id);
    if (row) Object.assign(row, { active: false, disabledAt: at });
    return Promise.resolve(at);
  }
  override deliveries(): Promise<Page<WebhookDeliveryWithAttempts>> {
    return Promise.resolve({ items: [], nextCursor: null });
  }
}

function person(userId: string, roles: Role[] = []): Principal {
  return {
    kind: 'user',
    userId,
    email: `${userId}@example.kr`,
    roles,
    organizationId: null,
    agencyCode: null,
  };
}

function harness() {
  const { access, store } = projectAccessWithMembers();
  store.projects.set('p-1', {
    id: 'p-1',
    title: 'Protein folding',
    organizationId: 'o-1',
    piUserId: 'u-pi',
    createdAt: new Date('2026-01-01T00:00:00Z'),
  });
  const subscriptions = new FakeWebhookSubscriptions();
  const audit = new FakeAuditRepository();
  // hooks.example.kr "resolves" to a public address; internal.example.kr to the metadata service.
  const targets = new ResolvingWebhookTargetCheck({ allowLoopbackHttp: false }, (host) =>
    Promise.resolve(host === 'internal.example.kr' ? ['169.254.169.254'] : ['203.0.114.7']),
  );
  const useCase = new WebhookSubscriptionsUseCase(
    new FakeTransactionRunner(),
    subscriptions,
    access,
    audit,
    targets,
  );
  return { useCase, subscriptions, audit };
}

const input = { projectId: 'p-1', url: 'https://hooks.example.kr/gpupool' };

describe('WebhookSubscriptionsUseCase: who may manage webhooks', () => {
  it("lets the project's PI subscribe, returns the secret once and audits without it", async () => {
    const { useCase, audit } = harness();
    const created = await useCase.create({ principal: person('u-pi'), requestId: 'r-1' }, input);
    expect(created.secret.startsWith(WEBHOOK_SECRET_PREFIX)).toBe(true);
    expect(created).toMatchObject({ projectId: 'p-1', events: [], active: true, createdBy: 'u-pi' });
    expect(audit.actions()).toEqual(['webhook.created']);
    expect(JSON.stringify(audit.events[0]?.after)).not.toContain(created.secret);
  });

  it('refuses a member who is not PI (403 PI_REQUIRED) and hides the project from outsiders (404)', async () => {
    const { useCase } = harness();
    await expect(
      useCase.create({ principal: person('u-member'), requestId: null }, input),
    ).rejects.toMatchObject({
      kind: 'forbidden',
      code: 'PI_REQUIRED',
    });
    await expect(
      useCase.create({ principal: person('u-out'), requestId: null }, input),
    ).rejects.toMatchObject({
      kind: 'not_found',
    });
  });

  it('keeps platform-wide subscriptions to admins, and webhooks to signed-in users', async () => {
    const { useCase } = harness();
    const platform = { url: input.url };
    await expect(
      useCase.create({ principal: person('u-pi'), requestId: null }, platform),
    ).rejects.toMatchObject({
      code: 'ADMIN_REQUIRED',
    });
    await expect(
      useCase.create({ principal: person('u-admin', ['admin']), requestId: null }, platform),
    ).resolves.toMatchObject({ projectId: null });
    const token: Principal = { kind: 'api_token', tokenId: 't-1', scopes: ['agent'], createdBy: 'u-pi' };
    await expect(useCase.create({ principal: token, requestId: null }, input)).rejects.toMatchObject({
      code: 'USER_REQUIRED',
    });
  });

  it('answers 404 for a platform-wide subscription to anyone but admins', async () => {
    const { useCase } = harness();
    const created = await useCase.create(
      { principal: person('u-admin', ['admin']), requestId: null },
      { url: input.url },
    );
    await expect(useCase.get(person('u-pi'), created.id)).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('disables once: a second disable writes and audits nothing', async () => {
    const { useCase, subscriptions, audit } = harness();
    const created = await useCase.create({ principal: person('u-pi'), requestId: null }, input);
    await useCase.disable({ principal: person('u-pi'), requestId: null }, created.id);
    await useCase.disable({ principal: person('u-pi'), requestId: null }, created.id);
    expect(subscriptions.disables).toBe(1);
    expect(audit.actions()).toEqual(['webhook.created', 'webhook.disabled']);
    expect(audit.events[1]?.after).toMatchObject({ active: false, disabledAt: '2026-06-02T00:00:00.000Z' });
  });
});

describe('WebhookSubscriptionsUseCase: where webhooks may go (issue 13 item 6)', () => {
  const pi = { principal: person('u-pi'), requestId: null };
  it.each([
    ['http://hooks.example.kr/x', 'must be an https:// URL'],
    ['https://169.254.169.254/latest/meta-data/', 'link-local'],
    ['https://127.0.0.1:8443/x', 'loopback'],
    ['https://[::ffff:10.0.0.1]/x', 'private'],
    ['https://internal.example.kr/x', 'internal.example.kr resolves to 169.254.169.254'],
    ['https://user:pw@hooks.example.kr/x', 'user name or password'],
  ])('refuses %s (400 naming the url) and stores nothing', async (url, why) => {
    const { useCase, subscriptions } = harness();
    const refused = await useCase.create(pi, { projectId: 'p-1', url }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ kind: 'invalid', code: 'VALIDATION_FAILED' });
    expect(JSON.stringify((refused as { details: unknown }).details)).toContain(why);
    expect((refused as { details: { field: string }[] }).details[0]?.field).toBe('url');
    expect(subscriptions.rows.size).toBe(0);
  });
});
