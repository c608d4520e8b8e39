import { Module, type DynamicModule, type FactoryProvider } from '@nestjs/common';
import type { WebhookTargetRules } from '#domain';
import {
  NotificationInboxRepository,
  TypeormNotificationInboxRepository,
  TypeormWebhookSubscriptionRepository,
  WebhookSubscriptionRepository,
} from '#persistence';
import { AccessModule } from '../access/access.module.js';
import { NotificationInbox } from './notification.queries.js';
import { ResolvingWebhookTargetCheck, WebhookTargetCheck } from './webhook-target-check.js';
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
export class NotificationsApplicationModule {
  /**
   * With the deployment's webhook target rules (WEBHOOK_ALLOW_LOOPBACK_HTTP), built by a factory
   * over what it injects (the API's config token, which its global CoreModule provides).
   */
  static withTargets(settings: {
    inject: FactoryProvider['inject'];
    useFactory: (...args: never[]) => WebhookTargetRules;
  }): DynamicModule {
    return {
      module: NotificationsApplicationModule,
      providers: [
        {
          provide: WebhookTargetCheck,
          inject: settings.inject ?? [],
          useFactory: (...args: never[]) => new ResolvingWebhookTargetCheck(settings.useFactory(...args)),
        },
      ],
    };
  }
}
