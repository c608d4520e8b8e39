import { Module } from '@nestjs/common';
import { NotificationsApplicationModule } from '#application';
import { NotificationsController } from './notifications.controller.js';
import { WebhooksController } from './webhooks.controller.js';

/** In-app notifications and the webhook subscriptions that carry them out (delivery: the scheduler). */
@Module({
  imports: [NotificationsApplicationModule],
  controllers: [NotificationsController, WebhooksController],
})
export class NotificationsModule {}
