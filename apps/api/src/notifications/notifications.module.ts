import { Module } from '@nestjs/common';
import type { GpupoolConfig } from '#config';
import { GPUPOOL_CONFIG } from '../common/config.provider.js';
import { NotificationsApplicationModule } from '#application';
import { NotificationsController } from './notifications.controller.js';
import { WebhooksController } from './webhooks.controller.js';

/** In-app notifications and the webhook subscriptions that carry them out (delivery: the scheduler). */
@Module({
  imports: [
    NotificationsApplicationModule.withTargets({
      inject: [GPUPOOL_CONFIG],
      useFactory: (config: GpupoolConfig) => ({ allowLoopbackHttp: config.WEBHOOK_ALLOW_LOOPBACK_HTTP }),
    }),
  ],
  controllers: [NotificationsController, WebhooksController],
})
export class NotificationsModule {}
