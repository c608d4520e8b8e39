import { z } from 'zod';
import { webhookView } from '#application';
import {
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDeliveryAttemptEntity,
  type WebhookDeliveryEntity,
  type WebhookSubscriptionEntity,
} from '#persistence';
import { pageResponse } from '../../organizations/dto/fields.js';

const instant = z.iso.datetime();

/** A subscription as listed: never its secret. */
export const webhookResponse = z.object({
  id: z.uuid(),
  /** Null: platform-wide (every project's notifications). */
  projectId: z.uuid().nullable(),
  url: z.string(),
  /** Kinds sent; empty means every kind. */
  events: z.array(z.string()),
  active: z.boolean(),
  createdBy: z.uuid(),
  createdAt: instant,
  disabledAt: instant.nullable(),
});
export type WebhookResponse = z.infer<typeof webhookResponse>;

export const webhookPageResponse = pageResponse(webhookResponse);

/** The answer to POST, the only time the signing secret is shown. */
export const createdWebhookResponse = webhookResponse.extend({
  /** HMAC-SHA256 key of the `Gpupool-Signature` header (see the README on verifying it). */
  secret: z.string(),
});
export type CreatedWebhookResponse = z.infer<typeof createdWebhookResponse>;

export const deliveryAttemptResponse = z.object({
  attempt: z.int(),
  startedAt: instant,
  durationMs: z.int(),
  /** Null when no HTTP answer came (timeout, refused connection). */
  statusCode: z.int().nullable(),
  error: z.string().nullable(),
  /** The first 500 characters of the receiver's answer. */
  responseSnippet: z.string().nullable(),
});

export const deliveryResponse = z.object({
  id: z.uuid(),
  subscriptionId: z.uuid(),
  notificationId: z.uuid(),
  kind: z.string(),
  status: z.enum(WEBHOOK_DELIVERY_STATUSES),
  /** Attempts made so far (at most 8; then `failed`). */
  attempts: z.int(),
  /** When the next attempt is due; null once delivered or failed. */
  nextAttemptAt: instant.nullable(),
  lastStatusCode: z.int().nullable(),
  lastError: z.string().nullable(),
  deliveredAt: instant.nullable(),
  createdAt: instant,
  /** Every attempt, oldest first. */
  attemptLog: z.array(deliveryAttemptResponse),
});
export type DeliveryResponse = z.infer<typeof deliveryResponse>;

export const deliveryPageResponse = pageResponse(deliveryResponse);

/** The same view the use case audits (webhookView), typed as the response. */
export function toWebhookResponse(row: WebhookSubscriptionEntity): WebhookResponse {
  return webhookView(row);
}

export function toDeliveryResponse(
  row: WebhookDeliveryEntity,
  attempts: WebhookDeliveryAttemptEntity[],
): DeliveryResponse {
  return {
    id: row.id,
    subscriptionId: row.subscriptionId,
    notificationId: row.notificationId,
    kind: row.notification?.kind ?? '',
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt.toISOString() : null,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    attemptLog: attempts.map((attempt) => ({
      attempt: attempt.attempt,
      startedAt: attempt.startedAt.toISOString(),
      durationMs: attempt.durationMs,
      statusCode: attempt.statusCode,
      error: attempt.error,
      responseSnippet: attempt.responseSnippet,
    })),
  };
}
