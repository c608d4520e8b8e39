import { Module } from '@nestjs/common';
import { AllocationsModule } from '../allocations/allocations.module.js';
import { UsageReportsController } from './usage-reports.controller.js';
import { UsageReportsService } from './usage-reports.service.js';

/** Usage reports from the daily rollups: per allocation, and across projects, programs and GPU models. */
@Module({
  imports: [AllocationsModule],
  controllers: [UsageReportsController],
  providers: [UsageReportsService],
})
export class UsageReportsModule {}
