import { Injectable } from '@nestjs/common';
import { Brackets, DataSource, In, IsNull, type EntityManager } from 'typeorm';
import type { ProjectScope, WebhookPayload } from '#domain';
import {
  NotificationEntity,
  WebhookDeliveryAttemptEntity,
  WebhookDeliveryEntity,
  WebhookSubscriptionEntity,
} from '../entities/index.js';
import { keysetPage, newestFirst, pageOf, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { projectScopeCondition } from './project-scope.sql.js';

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

export interface NotificationFilter {
  projectId?: string | undefined;
  allocationId?: string | undefined;
  kind?: string | undefined;
  unread?: boolean | undefined;
}

/** In-app notifications as people read them. */
export abstract class NotificationInboxRepository {
  /**
   * A newest-first page of the notifications of the projects in `scope` and those addressed to
   * `userId` (null: none addressed).
   */
  abstract list(
    filter: NotificationFilter,
    viewer: { scope: ProjectScope; userId: string | null },
    page: PageQuery,
  ): Promise<Page<NotificationEntity>>;
  abstract findById(id: string): Promise<NotificationEntity | null>;
  /** Sets read_at unless already set (the first time is kept). */
  abstract markRead(id: string): Promise<void>;
}

@Injectable()
export class TypeormNotificationInboxRepository extends NotificationInboxRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override list(
    filter: NotificationFilter,
    viewer: { scope: ProjectScope; userId: string | null },
    page: PageQuery,
  ): Promise<Page<NotificationEntity>> {
    const builder = this.dataSource.getRepository(NotificationEntity).createQueryBuilder('n');
    if (viewer.scope.kind !== 'all') {
      const projects = projectScopeCondition(viewer.scope, 'n.project_id');
      const userId = viewer.userId;
      builder.andWhere(
        new Brackets((visible) => {
          visible.where(projects.sql, projects.params);
          if (userId !== null) visible.orWhere('n.user_id = :viewerId', { viewerId: userId });
        }),
      );
    }
    if (filter.projectId !== undefined)
      builder.andWhere('n.project_id = :projectId', { projectId: filter.projectId });
    if (filter.allocationId !== undefined)
      builder.andWhere('n.allocation_id = :allocationId', { allocationId: filter.allocationId });
    if (filter.kind !== undefined) builder.andWhere('n.kind = :kind', { kind: filter.kind });
    if (filter.unread) builder.andWhere('n.read_at IS NULL');
    return keysetPage(builder, page, (row) => row);
  }

  override findById(id: string): Promise<NotificationEntity | null> {
    return this.dataSource.getRepository(NotificationEntity).findOne({ where: { id } });
  }

  override async markRead(id: string): Promise<void> {
    await this.dataSource
      .getRepository(NotificationEntity)
      .update({ id, readAt: IsNull() }, { readAt: () => 'now()' });
  }
}

export interface NewWebhookSubscription {
  projectId: string | null;
  url: string;
  secret: string;
  events: string[];
  createdBy: string;
}

export interface WebhookDeliveryWithAttempts {
  delivery: WebhookDeliveryEntity;
  attempts: WebhookDeliveryAttemptEntity[];
}

/** Webhook subscriptions and their delivery log, as people manage and read them. */
export abstract class WebhookSubscriptionRepository {
  abstract insert(tx: Tx, subscription: NewWebhookSubscription): Promise<WebhookSubscriptionEntity>;
  /** A newest-first page of the subscriptions of the projects in `scope` (platform-wide ones: 'all' only). */
  abstract list(
    filter: { projectId?: string | undefined; includeDisabled: boolean },
    scope: ProjectScope,
    page: PageQuery,
  ): Promise<Page<WebhookSubscriptionEntity>>;
  abstract findById(id: string, tx?: Tx, lock?: boolean): Promise<WebhookSubscriptionEntity | null>;
  /** Disables it and fails its pending deliveries; returns the instant (the transaction's clock). */
  abstract disable(tx: Tx, id: string): Promise<Date>;
  /** Its deliveries newest first, each with every attempt (oldest first). */
  abstract deliveries(
    subscriptionId: string,
    status: string | undefined,
    page: PageQuery,
  ): Promise<Page<WebhookDeliveryWithAttempts>>;
}

@Injectable()
export class TypeormWebhookSubscriptionRepository extends WebhookSubscriptionRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override insert(tx: Tx, subscription: NewWebhookSubscription): Promise<WebhookSubscriptionEntity> {
    const subscriptions = tx.getRepository(WebhookSubscriptionEntity);
    return subscriptions.save(subscriptions.create({ ...subscription, active: true, disabledAt: null }));
  }

  override list(
    filter: { projectId?: string | undefined; includeDisabled: boolean },
    scope: ProjectScope,
    page: PageQuery,
  ): Promise<Page<WebhookSubscriptionEntity>> {
    const builder = this.dataSource.getRepository(WebhookSubscriptionEntity).createQueryBuilder('s');
    if (scope.kind !== 'all') {
      const visible = projectScopeCondition(scope, 's.project_id');
      builder.andWhere(visible.sql, visible.params);
    }
    if (filter.projectId !== undefined)
      builder.andWhere('s.project_id = :projectId', { projectId: filter.projectId });
    if (!filter.includeDisabled) builder.andWhere('s.active');
    return keysetPage(builder, page, (row) => row);
  }

  override findById(
    id: string,
    tx: Tx = this.dataSource.manager,
    lock = false,
  ): Promise<WebhookSubscriptionEntity | null> {
    return tx.getRepository(WebhookSubscriptionEntity).findOne({
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  override async disable(tx: Tx, id: string): Promise<Date> {
    const [clock] = await tx.query<{ now: Date }[]>('SELECT now() AS now');
    const disabledAt = clock?.now ?? new Date();
    await tx.getRepository(WebhookSubscriptionEntity).update({ id }, { active: false, disabledAt });
    await tx.query(
      `UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription disabled'
        WHERE subscription_id = $1 AND status = 'pending'`,
      [id],
    );
    return disabledAt;
  }

  override async deliveries(
    subscriptionId: string,
    status: string | undefined,
    page: PageQuery,
  ): Promise<Page<WebhookDeliveryWithAttempts>> {
    const builder = this.dataSource
      .getRepository(WebhookDeliveryEntity)
      .createQueryBuilder('d')
      .leftJoinAndSelect('d.notification', 'notification')
      .where('d.subscription_id = :subscriptionId', { subscriptionId });
    if (status !== undefined) builder.andWhere('d.status = :status', { status });
    const rows = await newestFirst(builder, page).getMany();
    const pageIds = rows.slice(0, page.limit).map((row) => row.id);
    const attempts =
      pageIds.length === 0
        ? []
        : await this.dataSource
            .getRepository(WebhookDeliveryAttemptEntity)
            .find({ where: { deliveryId: In(pageIds) }, order: { deliveryId: 'ASC', attempt: 'ASC' } });
    const byDelivery = new Map<string, WebhookDeliveryAttemptEntity[]>();
    for (const attempt of attempts) {
      byDelivery.set(attempt.deliveryId, [...(byDelivery.get(attempt.deliveryId) ?? []), attempt]);
    }
    return pageOf(rows, page.limit, (row) => ({ delivery: row, attempts: byDelivery.get(row.id) ?? [] }));
  }
}

/** A delivery as its sender sees it, row-locked: what to send, and whether to send it now. */
export interface LockedWebhookDelivery {
  status: string;
  /** `next_attempt_at` has come (on the database's clock). */
  due: boolean;
  /** The subscription is still active. */
  active: boolean;
  url: string;
  secret: string;
  payload: WebhookPayload;
}

export interface WebhookAttemptRecord {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseSnippet: string | null;
}

export interface WebhookDeliverySettlement {
  attempts: number;
  status: 'pending' | 'delivered' | 'failed';
  /** When pending: the next attempt is due this long from now. */
  retryInMs: number;
  statusCode: number | null;
  error: string | null;
}

/**
 * The webhook outbox as its sender and sweep work it: row locks, the lease on `next_attempt_at`,
 * the attempt log and the outcome. The HTTP request happens between two transactions, never in one.
 */
export abstract class WebhookDeliveryRepository {
  /** The delivery with its subscription and notification, locked; null when unknown or locked by another worker. */
  abstract lockForSend(tx: Tx, deliveryId: string): Promise<LockedWebhookDelivery | null>;
  /** Ends the delivery as failed: its subscription was disabled after it was created. */
  abstract cancel(tx: Tx, deliveryId: string): Promise<void>;
  /** Moves `next_attempt_at` ahead by `leaseMs`, so no other worker sends it meanwhile. */
  abstract lease(tx: Tx, deliveryId: string, leaseMs: number): Promise<void>;
  /** Its status and attempts so far, locked; null when the row is gone. */
  abstract lockForRecord(tx: Tx, deliveryId: string): Promise<{ status: string; attempts: number } | null>;
  abstract insertAttempt(tx: Tx, attempt: WebhookAttemptRecord): Promise<void>;
  /** Writes the attempt count and outcome (a pending one is due again after `retryInMs`). */
  abstract settle(tx: Tx, deliveryId: string, settlement: WebhookDeliverySettlement): Promise<void>;
  /** Pending deliveries whose next attempt has come, the longest due first. */
  abstract dueIds(limit: number): Promise<string[]>;
}

@Injectable()
export class TypeormWebhookDeliveryRepository extends WebhookDeliveryRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async lockForSend(tx: Tx, deliveryId: string): Promise<LockedWebhookDelivery | null> {
    const [row] = await tx.query<
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
    if (!row) return null;
    return {
      status: row.status,
      due: row.due,
      active: row.active,
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
  }

  override async cancel(tx: Tx, deliveryId: string): Promise<void> {
    await tx.query(
      `UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription disabled' WHERE id = $1`,
      [deliveryId],
    );
  }

  override async lease(tx: Tx, deliveryId: string, leaseMs: number): Promise<void> {
    await tx.query(
      `UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() + $2::int * interval '1 millisecond'
        WHERE id = $1`,
      [deliveryId, leaseMs],
    );
  }

  override async lockForRecord(
    tx: Tx,
    deliveryId: string,
  ): Promise<{ status: string; attempts: number } | null> {
    const [row] = await tx.query<{ status: string; attempts: number }[]>(
      'SELECT status, attempts FROM webhook_deliveries WHERE id = $1 FOR UPDATE',
      [deliveryId],
    );
    return row ?? null;
  }

  override async insertAttempt(tx: Tx, attempt: WebhookAttemptRecord): Promise<void> {
    await tx.query(
      `INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_snippet)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        attempt.deliveryId,
        attempt.attempt,
        attempt.startedAt,
        attempt.durationMs,
        attempt.statusCode,
        attempt.error,
        attempt.responseSnippet,
      ],
    );
  }

  override async settle(tx: Tx, deliveryId: string, settlement: WebhookDeliverySettlement): Promise<void> {
    await tx.query(
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
        settlement.attempts,
        settlement.status,
        settlement.retryInMs,
        settlement.statusCode,
        settlement.error,
      ],
    );
  }

  override async dueIds(limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
        ORDER BY next_attempt_at LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.id);
  }
}
