import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  verifyWebhook,
  WEBHOOK_MAX_ATTEMPTS,
  webhookRetryDelayMs,
} from '#domain';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import {
  FakeWebhookDeliveryRepository,
  FakeWebhookSender,
  RecordingLogger,
} from '../../../../test/fakes/webhooks.fakes.js';
import type { WebhookResponse } from './webhook-sender.js';
import { DeliverWebhookUseCase, WEBHOOK_LEASE_MS, WEBHOOK_TIMEOUT_MS } from './deliver-webhook.use-case.js';

function setup(answers?: WebhookResponse[]) {
  const transactions = new FakeTransactionRunner();
  const deliveries = new FakeWebhookDeliveryRepository();
  const sender = new FakeWebhookSender(answers);
  const logger = new RecordingLogger();
  const useCase = new DeliverWebhookUseCase(transactions, deliveries, sender, logger);
  return { transactions, deliveries, sender, logger, useCase };
}

const serverError: WebhookResponse = { statusCode: 500, responseSnippet: 'boom' };
const timedOut: WebhookResponse = { statusCode: null, error: `timed out after ${WEBHOOK_TIMEOUT_MS} ms` };

describe('DeliverWebhookUseCase', () => {
  it('delivers on a 2xx: one signed POST of the payload, the attempt logged, no log line', async () => {
    const { deliveries, sender, logger, useCase, transactions } = setup([
      { statusCode: 204, responseSnippet: null },
    ]);
    const row = deliveries.add();

    expect(await useCase.execute(row.id)).toEqual({
      outcome: 'delivered',
      attempt: 1,
      statusCode: 204,
      error: null,
    });

    expect(sender.requests).toHaveLength(1);
    const [request] = sender.requests;
    expect(request?.url).toBe(row.url);
    expect(request?.timeoutMs).toBe(WEBHOOK_TIMEOUT_MS);
    expect(JSON.parse(request?.body ?? '')).toEqual(row.payload);
    expect(request?.headers).toMatchObject({
      'Content-Type': 'application/json',
      'User-Agent': 'gpupool-webhooks/1',
      [EVENT_HEADER]: 'usage_threshold',
      [DELIVERY_HEADER]: row.id,
    });
    const signature = request?.headers[SIGNATURE_HEADER];
    expect(verifyWebhook(row.secret, request?.body ?? '', signature).ok).toBe(true);
    expect(verifyWebhook('whsec_someone-else', request?.body ?? '', signature).ok).toBe(false);

    expect(row).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 204, lastError: null });
    expect(row.delivered).toBe(true);
    expect(deliveries.attemptLog).toEqual([
      expect.objectContaining({ deliveryId: row.id, attempt: 1, statusCode: 204, error: null }),
    ]);
    expect(logger.lines).toEqual([]);
    // Claim and record: two READ COMMITTED transactions, the POST outside both.
    expect(transactions.runs).toEqual([
      { options: { isolation: 'READ COMMITTED' }, outcome: 'committed' },
      { options: { isolation: 'READ COMMITTED' }, outcome: 'committed' },
    ]);
  });

  it('leases the row before the POST, so it is not due for another worker while the receiver waits', async () => {
    const { deliveries, sender, useCase } = setup();
    const row = deliveries.add();
    let dueDuringPost: boolean | undefined;
    sender.onPost = () => {
      dueDuringPost = deliveries.isDue(row.id);
    };
    await useCase.execute(row.id);
    expect(dueDuringPost).toBe(false);
  });

  it('retries a 5xx with the backoff of its attempt, and logs it', async () => {
    const { deliveries, logger, useCase } = setup([serverError]);
    const row = deliveries.add();

    expect(await useCase.execute(row.id)).toEqual({
      outcome: 'retry',
      attempt: 1,
      statusCode: 500,
      error: 'HTTP 500',
    });
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 500, lastError: 'HTTP 500' });
    expect(row.nextAttemptAt).toBe(deliveries.now + webhookRetryDelayMs(1, row.id));
    expect(deliveries.attemptLog[0]).toMatchObject({ responseSnippet: 'boom' });
    expect(logger.lines).toEqual([
      [
        'info',
        'webhook attempt failed',
        { deliveryId: row.id, attempt: 1, statusCode: 500, err: 'HTTP 500' },
      ],
    ]);
  });

  it('treats a redirect as a failed attempt, not a delivery', async () => {
    const { deliveries, useCase } = setup([{ statusCode: 302, responseSnippet: null }]);
    const row = deliveries.add();
    expect(await useCase.execute(row.id)).toMatchObject({ outcome: 'retry', error: 'HTTP 302' });
  });

  it('retries a timeout (no status code) the same way, the backoff growing with the attempts', async () => {
    const { deliveries, useCase } = setup([timedOut]);
    const row = deliveries.add({ attempts: 3 });

    expect(await useCase.execute(row.id)).toEqual({
      outcome: 'retry',
      attempt: 4,
      statusCode: null,
      error: `timed out after ${WEBHOOK_TIMEOUT_MS} ms`,
    });
    expect(row.nextAttemptAt).toBe(deliveries.now + webhookRetryDelayMs(4, row.id));
    expect(webhookRetryDelayMs(4, row.id)).toBeGreaterThan(webhookRetryDelayMs(1, row.id));
    expect(deliveries.attemptLog[0]).toMatchObject({ attempt: 4, statusCode: null, responseSnippet: null });
  });

  it('is not due again right after a failed attempt: the next call skips it until the backoff passes', async () => {
    const { deliveries, sender, useCase } = setup([serverError, { statusCode: 200, responseSnippet: 'ok' }]);
    const row = deliveries.add();
    await useCase.execute(row.id);

    expect(await useCase.execute(row.id)).toEqual({ outcome: 'skipped', reason: 'not_due' });
    expect(sender.requests).toHaveLength(1);

    deliveries.now += webhookRetryDelayMs(1, row.id);
    expect(await useCase.execute(row.id)).toMatchObject({ outcome: 'delivered', attempt: 2 });
  });

  it('fails for good after the last attempt, and says so in the log', async () => {
    const { deliveries, logger, useCase } = setup([serverError]);
    const row = deliveries.add({ attempts: WEBHOOK_MAX_ATTEMPTS - 1 });

    expect(await useCase.execute(row.id)).toEqual({
      outcome: 'failed',
      attempt: WEBHOOK_MAX_ATTEMPTS,
      statusCode: 500,
      error: 'HTTP 500',
    });
    expect(row).toMatchObject({ status: 'failed', attempts: WEBHOOK_MAX_ATTEMPTS, lastError: 'HTTP 500' });
    expect(logger.lines.map(([level, message]) => [level, message])).toEqual([
      ['info', 'webhook delivery failed for good'],
    ]);
    expect(await useCase.execute(row.id)).toEqual({ outcome: 'skipped', reason: 'not_pending' });
  });

  it('cancels a delivery whose subscription was disabled, without sending it', async () => {
    const { deliveries, sender, useCase } = setup();
    const row = deliveries.add({ active: false });

    expect(await useCase.execute(row.id)).toEqual({ outcome: 'cancelled' });
    expect(row).toMatchObject({ status: 'failed', lastError: 'subscription disabled', attempts: 0 });
    expect(sender.requests).toEqual([]);
    expect(deliveries.attemptLog).toEqual([]);
  });

  it('cancels a disabled one even before it is due (nobody wants it any more)', async () => {
    const { deliveries, useCase } = setup();
    const row = deliveries.add({ active: false, nextAttemptAt: deliveries.now + 60_000 });
    expect(await useCase.execute(row.id)).toEqual({ outcome: 'cancelled' });
  });

  it.each([
    ['locked by another worker', 'unknown_or_locked'],
    ['unknown', 'unknown_or_locked'],
    ['already delivered', 'not_pending'],
    ['not due yet', 'not_due'],
  ] as const)('skips a delivery %s, sending and writing nothing', async (situation, reason) => {
    const { deliveries, sender, useCase } = setup();
    const row = deliveries.add({
      status: situation === 'already delivered' ? 'delivered' : 'pending',
      nextAttemptAt: situation === 'not due yet' ? deliveries.now + 1 : deliveries.now,
    });
    if (situation === 'locked by another worker') deliveries.lockedByOthers.add(row.id);
    const before = { ...row };

    expect(await useCase.execute(situation === 'unknown' ? 'd-unknown' : row.id)).toEqual({
      outcome: 'skipped',
      reason,
    });
    expect(sender.requests).toEqual([]);
    expect(deliveries.attemptLog).toEqual([]);
    expect(row).toEqual(before);
  });

  it('logs an attempt whose row another worker finished meanwhile, and leaves that outcome alone', async () => {
    const { deliveries, sender, useCase } = setup([serverError]);
    const row = deliveries.add();
    sender.onPost = () => {
      // The lease ran out and another worker delivered it while this receiver hung.
      row.status = 'delivered';
      row.attempts = 1;
    };

    expect(await useCase.execute(row.id)).toEqual({
      outcome: 'delivered',
      attempt: 2,
      statusCode: 500,
      error: 'HTTP 500',
    });
    expect(row.status).toBe('delivered');
    expect(deliveries.attemptLog.map((attempt) => attempt.attempt)).toEqual([2]);
  });

  it('uses the lease and timeout it was given', async () => {
    const transactions = new FakeTransactionRunner();
    const deliveries = new FakeWebhookDeliveryRepository();
    const sender = new FakeWebhookSender();
    const useCase = new DeliverWebhookUseCase(transactions, deliveries, sender, new RecordingLogger(), {
      timeoutMs: 300,
      leaseMs: 5_000,
    });
    const row = deliveries.add();
    let leasedUntil: number | undefined;
    sender.onPost = () => {
      leasedUntil = row.nextAttemptAt;
    };
    await useCase.execute(row.id);
    expect(sender.requests[0]?.timeoutMs).toBe(300);
    expect(leasedUntil).toBe(deliveries.now + 5_000);
    expect(WEBHOOK_LEASE_MS).toBeGreaterThan(WEBHOOK_TIMEOUT_MS);
  });
});
