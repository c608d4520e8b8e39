import { Module } from '@nestjs/common';
import { AllocationsApplicationModule } from '#application';
import { AllocationsController } from './allocations.controller.js';

/**
 * Allocations (quotas) and their ledger balances, readable by project members, operators and agency
 * finance; suspension and resumption by admins (AllocationQueries, ChangeAllocationStatusUseCase).
 */
@Module({
  imports: [AllocationsApplicationModule],
  controllers: [AllocationsController],
  exports: [AllocationsApplicationModule],
})
export class AllocationsModule {}
