import { Injectable } from '@nestjs/common';
import { hasRole, notFound, type Principal } from '#domain';
import {
  NotificationInboxRepository,
  type NotificationEntity,
  type NotificationFilter,
  type Page,
  type PageQuery,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';

/**
 * In-app notifications (recorded by use cases through NotificationsRepository). Admins see every
 * one; everyone else those of the projects they belong to and those addressed to them. Someone
 * else's notification is a 404.
 */
@Injectable()
export class NotificationInbox {
  constructor(
    private readonly projects: ProjectAccess,
    private readonly inbox: NotificationInboxRepository,
  ) {}

  async list(principal: Principal, query: NotificationFilter & PageQuery): Promise<Page<NotificationEntity>> {
    if (query.projectId !== undefined) await this.projects.assertVisible(principal, query.projectId);
    if (!hasRole(principal, 'admin') && principal.kind !== 'user') return { items: [], nextCursor: null };
    const viewer = {
      scope: this.projects.scopeOf(principal),
      userId: principal.kind === 'user' ? principal.userId : null,
    };
    return this.inbox.list(query, viewer, query);
  }

  /** Marking read twice is harmless: the first time is kept. */
  async markRead(principal: Principal, id: string): Promise<void> {
    const row = await this.inbox.findById(id);
    if (!row || !(await this.mayRead(principal, row))) throw notFound('Notification', id);
    if (row.readAt !== null) return;
    await this.inbox.markRead(id);
  }

  private async mayRead(principal: Principal, row: NotificationEntity): Promise<boolean> {
    if (hasRole(principal, 'admin')) return true;
    if (principal.kind !== 'user') return false;
    if (row.userId !== null && row.userId === principal.userId) return true;
    return row.projectId !== null && (await this.projects.membership(principal, row.projectId)) !== null;
  }
}
