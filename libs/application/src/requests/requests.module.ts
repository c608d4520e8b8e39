import { Module } from '@nestjs/common';
import { GrantRepository, TypeormGrantRepository } from '#persistence';
import { GrantAllocationUseCase } from './grant-allocation.use-case.js';

/**
 * Allocation requests and their grants (needs PersistenceModule). The scheduler imports it for the
 * grant job and its reconciler; binding GRANT_FAULT_DELAY_MS is optional (tests of faults only).
 */
@Module({
  providers: [GrantAllocationUseCase, { provide: GrantRepository, useClass: TypeormGrantRepository }],
  exports: [GrantAllocationUseCase, GrantRepository],
})
export class RequestsApplicationModule {}
