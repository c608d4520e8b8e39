import { z } from 'zod';
import type { NotificationEntity } from '#persistence';
import { pageResponse } from '../../organizations/dto/fields.js';

export const notificationResponse = z.object({
  id: z.uuid(),
  projectId: z.uuid().nullable(),
  allocationId: z.uuid().nullable(),
  userId: z.uuid().nullable(),
  /** usage_threshold, burn_rate, allocation_exhausted, recall_proposed, recall_confirmed, refund, allocation_expired */
  kind: z.string(),
  title: z.string(),
  body: z.string(),
  /** Facts behind the alert (e.g. `{ thresholdPercent, consumed, granted }`), by kind. */
  data: z.record(z.string(), z.unknown()),
  createdAt: z.iso.datetime(),
  readAt: z.iso.datetime().nullable(),
});
export type NotificationResponse = z.infer<typeof notificationResponse>;

export const notificationPageResponse = pageResponse(notificationResponse);

export function toNotificationResponse(row: NotificationEntity): NotificationResponse {
  return {
    id: row.id,
    projectId: row.projectId,
    allocationId: row.allocationId,
    userId: row.userId,
    kind: row.kind,
    title: row.title,
    body: row.body,
    data: row.data,
    createdAt: row.createdAt.toISOString(),
    readAt: row.readAt?.toISOString() ?? null,
  };
}
