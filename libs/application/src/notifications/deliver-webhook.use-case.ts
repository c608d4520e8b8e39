import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  signWebhook,
  verdictAfterAttempt,
  type AttemptVerdict,
  type WebhookPayload,
} from '#domain';
import { TransactionRunner, WebhookDeliveryRepository, type WebhookAttemptRecord } from '#persistence';
import { WebhookSender } from './webhook-sender.js';

export interface WebhookDeliveryOptions {
  /** One HTTP attempt, response body included. */
  timeoutMs?: number;
  /**
   * A claimed delivery is not due again for this long, so no other worker sends it while this one
   * waits for the receiver. Longer than the timeout: a worker that dies mid-attempt is retried after it.
   */
  leaseMs?: number;
}

export const WEBHOOK_TIMEOUT_MS = 10_000;
export const WEBHOOK_LEASE_MS = 60_000;

export type DeliveryOutcome =
  | { outcome: 'skipped'; reason: 'unknown_or_locked' | 'not_pending' | 'not_due' }
  | { outcome: 'cancelled' }
  | {
      outcome: 'delivered' | 'retry' | 'failed';
      attempt: number;
      statusCode: number | null;
      error: string | null;
    };

/** What the use case logs (the scheduler's pino logger fits). */
export interface WebhookLogger {
  info(details: object, message: string): void;
  debug(details: object, message: string): void;
}

interface ClaimedDelivery {
  id: string;
  url: string;
  secret: string;
  payload: WebhookPayload;
}

type AttemptResult = Omit<WebhookAttemptRecord, 'deliveryId' | 'attempt'>;

/**
 * `webhook.deliver`: sends one webhook delivery, one attempt per call. The HTTP request runs outside
 * any transaction: a short transaction claims the row (due, pending, not locked) and leases it by
 * moving `next_attempt_at` ahead; a second one logs the attempt and decides delivered, retry (with
 * backoff) or failed. A redelivered job finds the row leased or finished and does nothing.
 */
export class DeliverWebhookUseCase {
  private readonly timeoutMs: number;
  private readonly leaseMs: number;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly sender: WebhookSender,
    private readonly logger: WebhookLogger,
    options: WebhookDeliveryOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
    this.leaseMs = options.leaseMs ?? WEBHOOK_LEASE_MS;
  }

  async execute(deliveryId: string): Promise<DeliveryOutcome> {
    const claim = await this.claim(deliveryId);
    if ('outcome' in claim) return claim;
    const result = await this.send(claim);
    const outcome = await this.record(deliveryId, result);
    if (outcome.outcome !== 'delivered') {
      this.logger.info(
        { deliveryId, attempt: outcome.attempt, statusCode: outcome.statusCode, err: outcome.error },
        outcome.outcome === 'failed' ? 'webhook delivery failed for good' : 'webhook attempt failed',
      );
    }
    return { ...outcome };
  }

  private claim(deliveryId: string): Promise<ClaimedDelivery | DeliveryOutcome> {
    return this.transactions.run(
      async (tx) => {
        const row = await this.deliveries.lockForSend(tx, deliveryId);
        if (!row) return { outcome: 'skipped', reason: 'unknown_or_locked' } as const;
        if (row.status !== 'pending') return { outcome: 'skipped', reason: 'not_pending' } as const;
        if (!row.active) {
          // Disabled after this delivery was created: nobody wants it any more.
          await this.deliveries.cancel(tx, deliveryId);
          return { outcome: 'cancelled' } as const;
        }
        if (!row.due) return { outcome: 'skipped', reason: 'not_due' } as const;
        await this.deliveries.lease(tx, deliveryId, this.leaseMs);
        return { id: deliveryId, url: row.url, secret: row.secret, payload: row.payload };
      },
      { isolation: 'READ COMMITTED' },
    );
  }

  /** One signed POST; a non-2xx answer is an error to retry like a refused connection. */
  private async send(delivery: ClaimedDelivery): Promise<AttemptResult> {
    const rawBody = JSON.stringify(delivery.payload);
    const startedAt = new Date();
    const started = performance.now();
    const response = await this.sender.post({
      url: delivery.url,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'gpupool-webhooks/1',
        [EVENT_HEADER]: delivery.payload.kind,
        [DELIVERY_HEADER]: delivery.id,
        [SIGNATURE_HEADER]: signWebhook(delivery.secret, rawBody, Math.floor(startedAt.getTime() / 1000)),
      },
      body: rawBody,
      timeoutMs: this.timeoutMs,
    });
    const durationMs = Math.max(0, Math.round(performance.now() - started));
    if (response.statusCode === null) {
      return { startedAt, durationMs, statusCode: null, error: response.error, responseSnippet: null };
    }
    const { statusCode, responseSnippet } = response;
    const error = statusCode < 200 || statusCode > 299 ? `HTTP ${statusCode}` : null;
    return { startedAt, durationMs, statusCode, error, responseSnippet };
  }

  private record(
    deliveryId: string,
    result: AttemptResult,
  ): Promise<Extract<DeliveryOutcome, { attempt: number }>> {
    return this.transactions.run(
      async (tx) => {
        const row = await this.deliveries.lockForRecord(tx, deliveryId);
        if (!row) throw new Error(`webhook delivery ${deliveryId} vanished during its attempt`);
        const attempt = row.attempts + 1;
        await this.deliveries.insertAttempt(tx, { deliveryId, attempt, ...result });
        // Normally still pending (this worker holds the lease); if a lease ran out and another worker
        // finished it meanwhile, the attempt is logged and the outcome left alone.
        const verdict: AttemptVerdict =
          row.status === 'pending'
            ? verdictAfterAttempt(attempt, result.error === null, deliveryId)
            : { status: row.status === 'delivered' ? 'delivered' : 'failed' };
        await this.deliveries.settle(tx, deliveryId, {
          attempts: attempt,
          status: verdict.status,
          retryInMs: verdict.status === 'pending' ? verdict.retryInMs : 0,
          statusCode: result.statusCode,
          error: result.error,
        });
        const outcome =
          verdict.status === 'pending' ? 'retry' : verdict.status === 'delivered' ? 'delivered' : 'failed';
        return { outcome, attempt, statusCode: result.statusCode, error: result.error } as const;
      },
      { isolation: 'READ COMMITTED' },
    );
  }
}
