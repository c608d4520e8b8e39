import { Module } from '@nestjs/common';
import { AllocationsApplicationModule } from '#application';
import { ProjectsModule } from '../projects/projects.module.js';
import { WorkloadsModule } from '../workloads/workloads.module.js';
import { AllocationStatusService } from './allocation-status.service.js';
import { AllocationsController } from './allocations.controller.js';
import { AllocationsService } from './allocations.service.js';

/**
 * Allocations (quotas) and their ledger balances, readable by project members, operators and agency
 * finance; suspension and resumption by admins.
 */
@Module({
  imports: [ProjectsModule, WorkloadsModule, AllocationsApplicationModule],
  controllers: [AllocationsController],
  providers: [AllocationsService, AllocationStatusService],
  exports: [AllocationsService],
})
export class AllocationsModule {}
