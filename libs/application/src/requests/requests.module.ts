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
import { ApproveRequestUseCase, RejectRequestUseCase } from './decide-request.use-cases.js';
import {
  CreateRequestUseCase,
  SubmitRequestUseCase,
  UpdateDraftUseCase,
  WithdrawRequestUseCase,
} from './draft-request.use-cases.js';
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
 * declarations, drafting, submission, decisions (the grant job after commit) and the queries (needs
 * PersistenceModule, AccessModule, a JobProducer and what DirectoryApplicationModule needs).
 */
@Module({
  imports: [DirectoryApplicationModule, RequestsApplicationModule],
  providers: [
    RequestVisibility,
    RequestQueries,
    CreateRequestUseCase,
    UpdateDraftUseCase,
    SubmitRequestUseCase,
    WithdrawRequestUseCase,
    ApproveRequestUseCase,
    RejectRequestUseCase,
    ReviewRequestUseCase,
    DeclareConflictUseCase,
    { provide: AllocationRequestRepository, useClass: TypeormAllocationRequestRepository },
    { provide: ReviewRepository, useClass: TypeormReviewRepository },
  ],
  exports: [
    RequestsApplicationModule,
    RequestVisibility,
    RequestQueries,
    CreateRequestUseCase,
    UpdateDraftUseCase,
    SubmitRequestUseCase,
    WithdrawRequestUseCase,
    ApproveRequestUseCase,
    RejectRequestUseCase,
    ReviewRequestUseCase,
    DeclareConflictUseCase,
    AllocationRequestRepository,
  ],
})
export class RequestLifecycleApplicationModule {}
