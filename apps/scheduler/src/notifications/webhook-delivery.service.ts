import type { DataSource } from 'typeorm';
import type { Logger } from '../logger.js';
import { verdictAfterAttempt, type AttemptVerdict } from './webhook-backoff.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhook } from './webhook-signature.js';

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
export const RESPONSE_SNIPPET_CHARS = 500;

/** The JSON body every receiver gets (signed as sent, byte for byte). */
export interface WebhookPayload {
  id: string;
  kind: string;
  createdAt: string;
  projectId: string | null;
  allocationId: string | null;
  title: string;
  body: string;
  data: Record<string, unknown>;
}

export type DeliveryOutcome =
  | { outcome: 'skipped'; reason: 'unknown_or_locked' | 'not_pending' | 'not_due' }
  | { outcome: 'cancelled' }
  | {
      outcome: 'delivered' | 'retry' | 'failed';
      attempt: number;
      statusCode: number | null;
      error: string | null;
    };

interface ClaimedDelivery {
  id: string;
  url: string;
  secret: string;
  payload: WebhookPayload;
}

interface AttemptResult {
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseSnippet: string | null;
}

/**
 * Sends one webhook delivery, one attempt per call (`webhook.deliver`). The HTTP request runs outside
 * any transaction: a short transaction claims the row (due, pending, not locked) and leases it by
 * moving `next_attempt_at` ahead; a second one logs the attempt and decides delivered, retry (with
 * backoff) or failed. A redelivered job finds the row leased or finished and does nothing.
 */
export class WebhookDeliveryService {
  private readonly timeoutMs: number;
  private readonly leaseMs: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    options: WebhookDeliveryOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
    this.leaseMs = options.leaseMs ?? WEBHOOK_LEASE_MS;
  }

  async deliver(deliveryId: string): Promise<DeliveryOutcome> {
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

  private async claim(deliveryId: string): Promise<ClaimedDelivery | DeliveryOutcome> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      const [row] = await manager.query<
        {
          status: string;
          due: boolean;
          url: string;
          secret: string;
          active: boolean;
          notification_id: string;
          kind: string;
          created_at: Date;
          project_id: string | null;
          allocation_id: string | null;
          title: string;
          body: string;
          data: Record<string, unknown>;
        }[]
      >(
        `SELECT d.status, d.next_attempt_at <= clock_timestamp() AS due,
                s.url, s.secret, s.active,
                n.id AS notification_id, n.kind, n.created_at, n.project_id, n.allocation_id, n.title, n.body, n.data
           FROM webhook_deliveries d
           JOIN webhook_subscriptions s ON s.id = d.subscription_id
           JOIN notifications n ON n.id = d.notification_id
          WHERE d.id = $1
            FOR UPDATE OF d SKIP LOCKED`,
        [deliveryId],
      );
      if (!row) return { outcome: 'skipped', reason: 'unknown_or_locked' } as const;
      if (row.status !== 'pending') return { outcome: 'skipped', reason: 'not_pending' } as const;
      if (!row.active) {
        // Disabled after this delivery was created: nobody wants it any more.
        await manager.query(
          `UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription disabled' WHERE id = $1`,
          [deliveryId],
        );
        return { outcome: 'cancelled' } as const;
      }
      if (!row.due) return { outcome: 'skipped', reason: 'not_due' } as const;
      await manager.query(
        `UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() + $2::int * interval '1 millisecond'
          WHERE id = $1`,
        [deliveryId, this.leaseMs],
      );
      return {
        id: deliveryId,
        url: row.url,
        secret: row.secret,
        payload: {
          id: row.notification_id,
          kind: row.kind,
          createdAt: row.created_at.toISOString(),
          projectId: row.project_id,
          allocationId: row.allocation_id,
          title: row.title,
          body: row.body,
          data: row.data,
        },
      };
    });
  }

  /** One POST; never throws (every failure is an outcome to log and retry). */
  private async send(delivery: ClaimedDelivery): Promise<AttemptResult> {
    const rawBody = JSON.stringify(delivery.payload);
    const startedAt = new Date();
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    let responseSnippet: string | null = null;
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'gpupool-webhooks/1',
          [EVENT_HEADER]: delivery.payload.kind,
          [DELIVERY_HEADER]: delivery.id,
          [SIGNATURE_HEADER]: signWebhook(delivery.secret, rawBody, Math.floor(startedAt.getTime() / 1000)),
        },
        body: rawBody,
        // A redirect is an answer, not a success: following it would send the payload somewhere unconfirmed.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      statusCode = response.status;
      responseSnippet = await readSnippet(response, RESPONSE_SNIPPET_CHARS);
      if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`;
    } catch (caught) {
      error = describeFetchError(caught, this.timeoutMs);
    }
    return {
      startedAt,
      durationMs: Math.max(0, Math.round(performance.now() - started)),
      statusCode,
      error,
      responseSnippet,
    };
  }

  private async record(
    deliveryId: string,
    result: AttemptResult,
  ): Promise<Extract<DeliveryOutcome, { attempt: number }>> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      const [row] = await manager.query<{ status: string; attempts: number }[]>(
        'SELECT status, attempts FROM webhook_deliveries WHERE id = $1 FOR UPDATE',
        [deliveryId],
      );
      if (!row) throw new Error(`webhook delivery ${deliveryId} vanished during its attempt`);
      const attempt = row.attempts + 1;
      await manager.query(
        `INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_snippet)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          deliveryId,
          attempt,
          result.startedAt,
          result.durationMs,
          result.statusCode,
          result.error,
          result.responseSnippet,
        ],
      );
      // Normally still pending (this worker holds the lease); if a lease ran out and another worker
      // finished it meanwhile, the attempt is logged and the outcome left alone.
      const verdict: AttemptVerdict =
        row.status === 'pending'
          ? verdictAfterAttempt(attempt, result.error === null, deliveryId)
          : { status: row.status === 'delivered' ? 'delivered' : 'failed' };
      await manager.query(
        `UPDATE webhook_deliveries
            SET attempts = $2, status = $3,
                next_attempt_at = CASE WHEN $3 = 'pending' THEN clock_timestamp() + $4::int * interval '1 millisecond'
                                       ELSE next_attempt_at END,
                last_status_code = $5, last_error = $6,
                delivered_at = CASE WHEN $3 = 'delivered' THEN coalesce(delivered_at, clock_timestamp())
                                    ELSE delivered_at END
          WHERE id = $1`,
        [
          deliveryId,
          attempt,
          verdict.status,
          verdict.status === 'pending' ? verdict.retryInMs : 0,
          result.statusCode,
          result.error,
        ],
      );
      const outcome =
        verdict.status === 'pending' ? 'retry' : verdict.status === 'delivered' ? 'delivered' : 'failed';
      return { outcome, attempt, statusCode: result.statusCode, error: result.error } as const;
    });
  }
}

/** The first `maxChars` characters of the answer, without reading a large body to its end. */
async function readSnippet(response: Response, maxChars: number): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < maxChars) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value as Uint8Array, { stream: true });
    }
  } catch {
    // A body cut short (timeout, reset) still leaves the status code to judge by.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  // PostgreSQL text refuses NUL.
  const snippet = text.replaceAll('\u0000', '').slice(0, maxChars);
  return snippet.length > 0 ? snippet : null;
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  // Duck-typed, not instanceof: fetch's errors may come from another realm (undici, test VMs).
  const { name, message, cause } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  if (typeof message !== 'string') return String(error).slice(0, 500);
  const causeMessage = (typeof cause === 'object' && cause !== null ? cause : {}) as { message?: unknown };
  const detail = typeof causeMessage.message === 'string' ? `: ${causeMessage.message}` : '';
  return `${message}${detail}`.slice(0, 500);
}
