import { Module } from '@nestjs/common';
import { ProjectsModule } from '../projects/projects.module.js';
import { NotificationsController } from './notifications.controller.js';
import { NotificationsService } from './notifications.service.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksService } from './webhooks.service.js';

/** In-app notifications and the webhook subscriptions that carry them out (delivery: the scheduler). */
@Module({
  imports: [ProjectsModule],
  controllers: [NotificationsController, WebhooksController],
  providers: [NotificationsService, WebhooksService],
})
export class NotificationsModule {}
