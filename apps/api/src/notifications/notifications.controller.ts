import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { listNotificationsQuery, type ListNotificationsQuery } from './dto/notification.request.js';
import { notificationPageResponse, toNotificationResponse } from './dto/notification.response.js';
import { NotificationInbox } from '#application';

@ApiTags('notifications')
@ApiBearerAuth()
@Controller('v1/notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationInbox) {}

  @Get()
  @ApiOperation({
    summary: 'Notifications of the projects the caller belongs to (admins: all), newest first',
    description:
      'Usage thresholds, burn rate, exhaustion, recalls, refunds and expiries; each alert is recorded once.',
  })
  @ApiOkResponse({ standardSchema: notificationPageResponse })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listNotificationsQuery }) query: ListNotificationsQuery,
  ) {
    const page = await this.notifications.list(principal, query);
    return { items: page.items.map(toNotificationResponse), nextCursor: page.nextCursor };
  }

  @Post(':id/read')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Mark a notification read (again: no change)' })
  @ApiNoContentResponse({ description: 'Marked read.' })
  @ApiNotFoundResponse({ description: 'Unknown, or of a project the caller may not see.' })
  async markRead(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
  ): Promise<void> {
    await this.notifications.markRead(principal, params.id);
  }
}
