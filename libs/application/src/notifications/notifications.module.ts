import { Module } from '@nestjs/common';
import {
  NotificationInboxRepository,
  TypeormNotificationInboxRepository,
  TypeormWebhookSubscriptionRepository,
  WebhookSubscriptionRepository,
} from '#persistence';
import { AccessModule } from '../access/access.module.js';
import { NotificationInbox } from './notification.queries.js';
import { WebhookSubscriptionsUseCase } from './webhook-subscriptions.use-case.js';

/** In-app notifications as people read them, and webhook subscriptions (needs PersistenceModule). */
@Module({
  imports: [AccessModule],
  providers: [
    { provide: NotificationInboxRepository, useClass: TypeormNotificationInboxRepository },
    { provide: WebhookSubscriptionRepository, useClass: TypeormWebhookSubscriptionRepository },
    NotificationInbox,
    WebhookSubscriptionsUseCase,
  ],
  exports: [NotificationInbox, WebhookSubscriptionsUseCase],
})
export class NotificationsApplicationModule {}
