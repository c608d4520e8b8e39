import { Module } from '@nestjs/common';
import { ProjectsModule } from '../projects/projects.module.js';
import { AllocationsController } from './allocations.controller.js';
import { AllocationsService } from './allocations.service.js';

/** Allocations (quotas) and their ledger balances, readable by project members and agency finance. */
@Module({
  imports: [ProjectsModule],
  controllers: [AllocationsController],
  providers: [AllocationsService],
  exports: [AllocationsService],
})
export class AllocationsModule {}
