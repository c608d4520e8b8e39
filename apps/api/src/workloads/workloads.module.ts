import { Module } from '@nestjs/common';
import { WorkloadsApplicationModule } from '#application';
import { WorkloadJobs } from './workload-jobs.js';
import { WorkloadsController } from './workloads.controller.js';

/** Workloads: submission (single and sweeps), reads with placement and wait reasons, cancellation. */
@Module({
  imports: [WorkloadsApplicationModule],
  controllers: [WorkloadsController],
  providers: [WorkloadJobs],
  exports: [WorkloadJobs, WorkloadsApplicationModule],
})
export class WorkloadsModule {}
