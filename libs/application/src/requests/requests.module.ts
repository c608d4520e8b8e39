import { Module } from '@nestjs/common';
import {
  AllocationRequestRepository,
  GrantRepository,
  ReviewRepository,
  TypeormAllocationRequestRepository,
  TypeormGrantRepository,
  TypeormReviewRepository,
} from '#persistence';
import { DirectoryApplicationModule } from '../directory/directory.module.js';
import { GrantAllocationUseCase } from './grant-allocation.use-case.js';
import { RequestQueries } from './request-queries.js';
import { RequestVisibility } from './request-visibility.js';
import { DeclareConflictUseCase, ReviewRequestUseCase } from './review-request.use-case.js';

/**
 * Allocation requests and their grants (needs PersistenceModule). The scheduler imports it for the
 * grant job and its reconciler; binding GRANT_FAULT_DELAY_MS is optional (tests of faults only).
 */
@Module({
  providers: [GrantAllocationUseCase, { provide: GrantRepository, useClass: TypeormGrantRepository }],
  exports: [GrantAllocationUseCase, GrantRepository],
})
export class RequestsApplicationModule {}

/**
 * The request lifecycle the API drives: who sees a request (RequestVisibility), reviews and conflict
 * declarations (needs PersistenceModule, AccessModule and what DirectoryApplicationModule needs).
 */
@Module({
  imports: [DirectoryApplicationModule, RequestsApplicationModule],
  providers: [
    RequestVisibility,
    RequestQueries,
    ReviewRequestUseCase,
    DeclareConflictUseCase,
    { provide: AllocationRequestRepository, useClass: TypeormAllocationRequestRepository },
    { provide: ReviewRepository, useClass: TypeormReviewRepository },
  ],
  exports: [
    RequestsApplicationModule,
    RequestVisibility,
    RequestQueries,
    ReviewRequestUseCase,
    DeclareConflictUseCase,
    AllocationRequestRepository,
  ],
})
export class RequestLifecycleApplicationModule {}
