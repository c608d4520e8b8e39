import { Module } from '@nestjs/common';
import { WorkloadsModule } from '../workloads/workloads.module.js';
import { UsageIngestController } from './usage-ingest.controller.js';
import { UsageIngestService } from './usage-ingest.service.js';

/** Usage ingestion from cluster agents. */
@Module({
  imports: [WorkloadsModule],
  controllers: [UsageIngestController],
  providers: [UsageIngestService],
})
export class UsageModule {}
