import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Brackets, DataSource, IsNull } from 'typeorm';
import { notFound } from '#domain';
import { NotificationEntity } from '#persistence';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { keysetPage } from '../common/query-support.js';
import { ProjectAccess } from '#application';
import type { ListNotificationsQuery } from './dto/notification.request.js';
import { toNotificationResponse, type NotificationResponse } from './dto/notification.response.js';

/**
 * In-app notifications (written by the scheduler through recordNotification). Admins see every
 * one; everyone else those of the projects they belong to and those addressed to them. Someone
 * else's notification is a 404.
 */
@Injectable()
export class NotificationsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly projectAccess: ProjectAccess,
  ) {}

  async list(principal: Principal, query: ListNotificationsQuery): Promise<Page<NotificationResponse>> {
    if (query.projectId !== undefined) await this.projectAccess.assertVisible(principal, query.projectId);
    const builder = this.dataSource.getRepository(NotificationEntity).createQueryBuilder('n');
    if (!hasRole(principal, 'admin')) {
      if (principal.kind !== 'user') return { items: [], nextCursor: null };
      builder.andWhere(
        new Brackets((visible) => {
          visible
            .where(
              'n.project_id IN (SELECT m.project_id FROM project_members m WHERE m.user_id = :viewerId)',
              {
                viewerId: principal.userId,
              },
            )
            .orWhere('n.user_id = :viewerId', { viewerId: principal.userId });
        }),
      );
    }
    if (query.projectId !== undefined)
      builder.andWhere('n.project_id = :projectId', { projectId: query.projectId });
    if (query.allocationId !== undefined)
      builder.andWhere('n.allocation_id = :allocationId', { allocationId: query.allocationId });
    if (query.kind !== undefined) builder.andWhere('n.kind = :kind', { kind: query.kind });
    if (query.unread) builder.andWhere('n.read_at IS NULL');
    return keysetPage(builder, query, toNotificationResponse);
  }

  /** Marking read twice is harmless: the first time is kept. */
  async markRead(principal: Principal, id: string): Promise<void> {
    const notifications = this.dataSource.getRepository(NotificationEntity);
    const row = await notifications.findOne({ where: { id } });
    if (!row || !(await this.mayRead(principal, row))) throw notFound('Notification', id);
    if (row.readAt !== null) return;
    await notifications.update({ id, readAt: IsNull() }, { readAt: () => 'now()' });
  }

  private async mayRead(principal: Principal, row: NotificationEntity): Promise<boolean> {
    if (hasRole(principal, 'admin')) return true;
    if (principal.kind !== 'user') return false;
    if (row.userId !== null && row.userId === principal.userId) return true;
    return row.projectId !== null && (await this.projectAccess.membership(principal, row.projectId)) !== null;
  }
}
