import { Module } from '@nestjs/common';
import { ProjectsModule } from '../projects/projects.module.js';
import { WorkloadJobs } from './workload-jobs.js';
import { WorkloadsController } from './workloads.controller.js';
import { WorkloadsService } from './workloads.service.js';

/** Workloads: submission (single and sweeps), reads with placement and wait reasons, cancellation. */
@Module({
  imports: [ProjectsModule],
  controllers: [WorkloadsController],
  providers: [WorkloadsService, WorkloadJobs],
  exports: [WorkloadJobs],
})
export class WorkloadsModule {}
