import { z } from 'zod';
import { NOTIFICATION_KINDS, WEBHOOK_DELIVERY_STATUSES } from '#persistence';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';

export const MAX_WEBHOOK_URL_LENGTH = 2000;

export const createWebhookRequest = z.strictObject({
  /** The project whose notifications are sent; leave out for every project's (admins only). */
  projectId: uuidParam.optional(),
  /** Where notifications are POSTed: an https URL on a public address (private, loopback, link-local and metadata addresses are refused). */
  url: z
    .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
    .max(MAX_WEBHOOK_URL_LENGTH, { message: `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters` }),
  /** Notification kinds to send; empty or left out: every kind. */
  events: z
    .array(z.enum(NOTIFICATION_KINDS))
    .max(NOTIFICATION_KINDS.length)
    .refine((events) => new Set(events).size === events.length, { message: 'must not repeat a kind' })
    .optional(),
});
export type CreateWebhookRequest = z.infer<typeof createWebhookRequest>;

export const listWebhooksQuery = z.strictObject({
  ...paginationQuery,
  projectId: uuidParam.optional(),
  /** Disabled subscriptions are left out unless asked for. */
  includeDisabled: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
});
export type ListWebhooksQuery = z.infer<typeof listWebhooksQuery>;

export const listDeliveriesQuery = z.strictObject({
  ...paginationQuery,
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional(),
});
export type ListDeliveriesQuery = z.infer<typeof listDeliveriesQuery>;
