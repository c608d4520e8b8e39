import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { DataSource, In, type EntityManager } from 'typeorm';
import { DomainError, notFound } from '#domain';
import { WebhookDeliveryAttemptEntity, WebhookDeliveryEntity, WebhookSubscriptionEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import { hasRole, type Principal } from '../auth/principal.js';
import { pageOf, type Page } from '../common/pagination.js';
import { keysetPage, newestFirst } from '../common/query-support.js';
import { ProjectAccess } from '#application';
import type { CreateWebhookRequest, ListDeliveriesQuery, ListWebhooksQuery } from './dto/webhook.request.js';
import {
  toDeliveryResponse,
  toWebhookResponse,
  type CreatedWebhookResponse,
  type DeliveryResponse,
  type WebhookResponse,
} from './dto/webhook.response.js';

/** The prefix tells a webhook secret apart from other credentials in a config file. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/**
 * Webhook subscriptions. A project's PI (or an admin) manages the project's subscriptions; only
 * admins manage platform-wide ones. Members who are not PI get 403; people outside the project 404.
 */
@Injectable()
export class WebhooksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly projectAccess: ProjectAccess,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    input: CreateWebhookRequest,
    requestId: string | null,
  ): Promise<CreatedWebhookResponse> {
    const userId = userIdOf(principal);
    return this.dataSource.transaction(async (manager) => {
      await this.assertMayManage(principal, input.projectId ?? null, manager);
      const secret = `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
      const subscriptions = manager.getRepository(WebhookSubscriptionEntity);
      const row = await subscriptions.save(
        subscriptions.create({
          projectId: input.projectId ?? null,
          url: input.url,
          secret,
          events: input.events ?? [],
          active: true,
          createdBy: userId,
          disabledAt: null,
        }),
      );
      const view = toWebhookResponse(row);
      await this.audit.record(manager, {
        principal,
        action: 'webhook.created',
        subjectType: 'webhook_subscription',
        subjectId: row.id,
        after: view,
        requestId,
      });
      return { ...view, secret };
    });
  }

  async list(principal: Principal, query: ListWebhooksQuery): Promise<Page<WebhookResponse>> {
    if (query.projectId !== undefined) await this.assertMayManage(principal, query.projectId);
    const builder = this.dataSource.getRepository(WebhookSubscriptionEntity).createQueryBuilder('s');
    if (!hasRole(principal, 'admin')) {
      if (principal.kind !== 'user') return { items: [], nextCursor: null };
      builder.andWhere(
        "s.project_id IN (SELECT m.project_id FROM project_members m WHERE m.user_id = :viewerId AND m.role = 'pi')",
        { viewerId: principal.userId },
      );
    }
    if (query.projectId !== undefined)
      builder.andWhere('s.project_id = :projectId', { projectId: query.projectId });
    if (!query.includeDisabled) builder.andWhere('s.active');
    return keysetPage(builder, query, toWebhookResponse);
  }

  async get(principal: Principal, id: string): Promise<WebhookResponse> {
    return toWebhookResponse(await this.managed(principal, id));
  }

  /**
   * Disables the subscription: nothing more is sent to it, and its pending deliveries end as
   * failed. Disabling twice is harmless. Rows stay for the delivery log.
   */
  async disable(principal: Principal, id: string, requestId: string | null): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const row = await this.managed(principal, id, manager, true);
      if (!row.active) return;
      const before = toWebhookResponse(row);
      const [clock] = await manager.query<{ now: Date }[]>('SELECT now() AS now');
      row.active = false;
      row.disabledAt = clock?.now ?? new Date();
      await manager
        .getRepository(WebhookSubscriptionEntity)
        .update({ id }, { active: false, disabledAt: row.disabledAt });
      await manager.query(
        `UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription disabled'
          WHERE subscription_id = $1 AND status = 'pending'`,
        [id],
      );
      await this.audit.record(manager, {
        principal,
        action: 'webhook.disabled',
        subjectType: 'webhook_subscription',
        subjectId: id,
        before,
        after: toWebhookResponse(row),
        requestId,
      });
    });
  }

  /** The delivery log: deliveries newest first, each with every attempt. */
  async deliveries(
    principal: Principal,
    id: string,
    query: ListDeliveriesQuery,
  ): Promise<Page<DeliveryResponse>> {
    await this.managed(principal, id);
    const builder = this.dataSource
      .getRepository(WebhookDeliveryEntity)
      .createQueryBuilder('d')
      .leftJoinAndSelect('d.notification', 'notification')
      .where('d.subscription_id = :subscriptionId', { subscriptionId: id });
    if (query.status !== undefined) builder.andWhere('d.status = :status', { status: query.status });
    const rows = await newestFirst(builder, query).getMany();
    const pageIds = rows.slice(0, query.limit).map((row) => row.id);
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
    return pageOf(rows, query.limit, (row) => toDeliveryResponse(row, byDelivery.get(row.id) ?? []));
  }

  /** A subscription the caller may manage, else 404 (not visible) or 403 (a member who is not PI). */
  private async managed(
    principal: Principal,
    id: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<WebhookSubscriptionEntity> {
    const row = await manager.getRepository(WebhookSubscriptionEntity).findOne({
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!row) throw notFound('Webhook subscription', id);
    if (row.projectId === null) {
      if (!hasRole(principal, 'admin')) throw notFound('Webhook subscription', id);
      return row;
    }
    try {
      await this.assertMayManage(principal, row.projectId, manager);
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found')
        throw notFound('Webhook subscription', id);
      throw error;
    }
    return row;
  }

  private async assertMayManage(
    principal: Principal,
    projectId: string | null,
    manager?: EntityManager,
  ): Promise<void> {
    if (projectId === null) {
      if (hasRole(principal, 'admin')) return;
      throw new DomainError(
        'forbidden',
        'ADMIN_REQUIRED',
        'Platform-wide webhooks (without projectId) are managed by admins; name your project to subscribe to its notifications.',
      );
    }
    await this.projectAccess.assertVisible(principal, projectId, manager);
    if (hasRole(principal, 'admin')) return;
    if ((await this.projectAccess.membership(principal, projectId, manager)) !== 'pi') {
      throw new DomainError(
        'forbidden',
        'PI_REQUIRED',
        "Only the project's PI (or an admin) manages its webhooks.",
        { projectId },
      );
    }
  }
}

function userIdOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError(
      'forbidden',
      'USER_REQUIRED',
      'Webhooks are managed by signed-in users, not API tokens.',
    );
  }
  return principal.userId;
}
