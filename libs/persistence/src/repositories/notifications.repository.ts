import { Injectable } from '@nestjs/common';
import { Brackets, DataSource, In, IsNull, type EntityManager } from 'typeorm';
import type { ProjectScope } from '#domain';
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
