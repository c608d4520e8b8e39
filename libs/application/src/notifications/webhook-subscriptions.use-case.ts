import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DomainError, hasRole, notFound, type Principal } from '#domain';
import {
  AuditRepository,
  TransactionRunner,
  WebhookSubscriptionRepository,
  type Page,
  type PageQuery,
  type Tx,
  type WebhookDeliveryWithAttempts,
  type WebhookSubscriptionEntity,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { WebhookTargetCheck } from './webhook-target-check.js';

/** The prefix tells a webhook secret apart from other credentials in a config file. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

export interface WebhookView {
  id: string;
  projectId: string | null;
  url: string;
  events: string[];
  active: boolean;
  createdBy: string;
  createdAt: string;
  disabledAt: string | null;
}

export function webhookView(row: WebhookSubscriptionEntity): WebhookView {
  return {
    id: row.id,
    projectId: row.projectId,
    url: row.url,
    events: row.events,
    active: row.active,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    disabledAt: row.disabledAt?.toISOString() ?? null,
  };
}

export interface WebhookCommand {
  principal: Principal;
  requestId: string | null;
}

export interface NewWebhookInput {
  projectId?: string | undefined;
  url: string;
  events?: string[] | undefined;
}

/**
 * Webhook subscriptions. A project's PI (or an admin) manages the project's subscriptions; only
 * admins manage platform-wide ones. Members who are not PI get 403; people outside the project 404.
 */
@Injectable()
export class WebhookSubscriptionsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly subscriptions: WebhookSubscriptionRepository,
    private readonly projects: ProjectAccess,
    private readonly audit: AuditRepository,
    private readonly targets: WebhookTargetCheck,
  ) {}

  /**
   * A receiver must be https on a public address (see libs/domain webhook-target): checked here,
   * with the DNS answers of now, and again by the sender at every delivery.
   */
  async create(command: WebhookCommand, input: NewWebhookInput): Promise<WebhookView & { secret: string }> {
    const { principal } = command;
    const userId = userIdOf(principal);
    await this.assertMayManage(principal, input.projectId ?? null);
    const refusal = await this.targets.refusal(input.url);
    if (refusal) {
      throw new DomainError('invalid', 'VALIDATION_FAILED', `url ${refusal}`, [
        { field: 'url', message: refusal },
      ]);
    }
    return this.transactions.run(async (tx) => {
      await this.assertMayManage(principal, input.projectId ?? null, tx);
      const secret = `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
      const row = await this.subscriptions.insert(tx, {
        projectId: input.projectId ?? null,
        url: input.url,
        secret,
        events: input.events ?? [],
        createdBy: userId,
      });
      const view = webhookView(row);
      await this.audit.record(tx, {
        principal,
        action: 'webhook.created',
        subjectType: 'webhook_subscription',
        subjectId: row.id,
        after: view,
        requestId: command.requestId,
      });
      return { ...view, secret };
    });
  }

  async list(
    principal: Principal,
    query: { projectId?: string | undefined; includeDisabled: boolean } & PageQuery,
  ): Promise<Page<WebhookSubscriptionEntity>> {
    if (query.projectId !== undefined) await this.assertMayManage(principal, query.projectId);
    if (!hasRole(principal, 'admin') && principal.kind !== 'user') return { items: [], nextCursor: null };
    return this.subscriptions.list(query, this.projects.scopeOf(principal, { piOnly: true }), query);
  }

  async get(principal: Principal, id: string): Promise<WebhookSubscriptionEntity> {
    return this.managed(principal, id);
  }

  /**
   * Disables the subscription: nothing more is sent to it, and its pending deliveries end as
   * failed. Disabling twice is harmless. Rows stay for the delivery log.
   */
  async disable(command: WebhookCommand, id: string): Promise<void> {
    await this.transactions.run(async (tx) => {
      const row = await this.managed(command.principal, id, tx, true);
      if (!row.active) return;
      const before = webhookView(row);
      const disabledAt = await this.subscriptions.disable(tx, id);
      await this.audit.record(tx, {
        principal: command.principal,
        action: 'webhook.disabled',
        subjectType: 'webhook_subscription',
        subjectId: id,
        before,
        after: webhookView({ ...row, active: false, disabledAt }),
        requestId: command.requestId,
      });
    });
  }

  /** The delivery log: deliveries newest first, each with every attempt. */
  async deliveries(
    principal: Principal,
    id: string,
    query: { status?: string | undefined } & PageQuery,
  ): Promise<Page<WebhookDeliveryWithAttempts>> {
    await this.managed(principal, id);
    return this.subscriptions.deliveries(id, query.status, query);
  }

  /** A subscription the caller may manage, else 404 (not visible) or 403 (a member who is not PI). */
  private async managed(
    principal: Principal,
    id: string,
    tx?: Tx,
    lock = false,
  ): Promise<WebhookSubscriptionEntity> {
    const row = await this.subscriptions.findById(id, tx, lock);
    if (!row) throw notFound('Webhook subscription', id);
    if (row.projectId === null) {
      if (!hasRole(principal, 'admin')) throw notFound('Webhook subscription', id);
      return row;
    }
    try {
      await this.assertMayManage(principal, row.projectId, tx);
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found')
        throw notFound('Webhook subscription', id);
      throw error;
    }
    return row;
  }

  private async assertMayManage(principal: Principal, projectId: string | null, tx?: Tx): Promise<void> {
    if (projectId === null) {
      if (hasRole(principal, 'admin')) return;
      throw new DomainError(
        'forbidden',
        'ADMIN_REQUIRED',
        'Platform-wide webhooks (without projectId) are managed by admins; name your project to subscribe to its notifications.',
      );
    }
    await this.projects.assertVisible(principal, projectId, tx);
    if (hasRole(principal, 'admin')) return;
    if ((await this.projects.membership(principal, projectId, tx)) !== 'pi') {
      throw new DomainError(
        'forbidden',
        'PI_REQUIRED',
        "Only the project's PI (or an admin) manages its webhooks.",
        {
          projectId,
        },
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
