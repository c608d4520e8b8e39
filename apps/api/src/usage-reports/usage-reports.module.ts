import { Module } from '@nestjs/common';
import { UsageApplicationModule } from '#application';
import { UsageReportsController } from './usage-reports.controller.js';

/** Usage reports from the daily rollups (UsageReportQueries): per allocation, and across projects, programs and GPU models. */
@Module({
  imports: [UsageApplicationModule],
  controllers: [UsageReportsController],
})
export class UsageReportsModule {}
