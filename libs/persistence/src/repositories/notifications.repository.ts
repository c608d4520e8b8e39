import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Tx } from '../transaction.js';

export interface NotificationInput {
  projectId?: string | null;
  allocationId?: string | null;
  /** Addressed to one person as well (they see it even outside the project). */
  userId?: string | null;
  kind: string;
  /**
   * What makes the alert fire once, e.g. `usage_threshold:<allocationId>:80`. A second record with
   * the same key — a redelivered job, a concurrent sweep — writes nothing.
   */
  dedupeKey: string;
  title: string;
  body: string;
  data?: Record<string, unknown>;
}

export interface RecordedNotification {
  notificationId: string;
  /** The pending webhook deliveries created with it: enqueue `webhook.deliver` for each after commit. */
  deliveryIds: string[];
}

/**
 * Records a notification and one pending webhook delivery per active subscription that wants it
 * (the subscription's project, or platform-wide; its kinds empty or naming this kind). Must run
 * inside the caller's transaction, so the alert commits or rolls back with the change it reports.
 * Returns null when the dedupe key was already recorded: each alert fires once, also when eight
 * transactions race (the unique index makes the losers wait for the winner, then insert nothing).
 */
export async function recordNotification(
  manager: EntityManager,
  input: NotificationInput,
): Promise<RecordedNotification | null> {
  if (!manager.queryRunner?.isTransactionActive) {
    throw new Error('recordNotification must run inside a transaction');
  }
  const inserted = await manager.query<{ id: string }[]>(
    `INSERT INTO notifications (project_id, allocation_id, user_id, kind, dedupe_key, title, body, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING id`,
    [
      input.projectId ?? null,
      input.allocationId ?? null,
      input.userId ?? null,
      input.kind,
      input.dedupeKey,
      input.title,
      input.body,
      JSON.stringify(input.data ?? {}),
    ],
  );
  const notificationId = inserted[0]?.id;
  if (notificationId === undefined) return null;
  const deliveries = await manager.query<{ id: string }[]>(
    `INSERT INTO webhook_deliveries (subscription_id, notification_id, status, attempts, next_attempt_at)
     SELECT s.id, $1, 'pending', 0, now()
       FROM webhook_subscriptions s
      WHERE s.active
        AND (s.project_id IS NULL OR s.project_id = $2::uuid)
        AND (cardinality(s.events) = 0 OR $3::text = ANY (s.events))
     ON CONFLICT (subscription_id, notification_id) DO NOTHING
     RETURNING id`,
    [notificationId, input.projectId ?? null, input.kind],
  );
  return { notificationId, deliveryIds: deliveries.map((row) => row.id) };
}

/**
 * The port use cases record notifications through (each once per dedupe key, with its webhook
 * deliveries), inside their transaction; unit tests bind a fake.
 */
export abstract class NotificationsRepository {
  /** Null when the dedupe key was already recorded. */
  abstract record(tx: Tx, input: NotificationInput): Promise<RecordedNotification | null>;
}

@Injectable()
export class TypeormNotificationsRepository extends NotificationsRepository {
  override record(tx: Tx, input: NotificationInput): Promise<RecordedNotification | null> {
    return recordNotification(tx, input);
  }
}
