import { Module } from '@nestjs/common';
import { UsageApplicationModule } from '#application';
import { UsageIngestController } from './usage-ingest.controller.js';

/** Usage ingestion from cluster agents. */
@Module({
  imports: [UsageApplicationModule],
  controllers: [UsageIngestController],
})
export class UsageModule {}
