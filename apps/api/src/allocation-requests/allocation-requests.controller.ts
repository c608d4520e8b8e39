import { Body, Controller, Get, HttpCode, HttpStatus, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApproveRequestUseCase,
  CreateRequestUseCase,
  DeclareConflictUseCase,
  RejectRequestUseCase,
  RequestQueries,
  ReviewRequestUseCase,
  SubmitRequestUseCase,
  UpdateDraftUseCase,
  WithdrawRequestUseCase,
} from '#application';
import { CurrentPrincipal, RequestId } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { detailView, summaryView } from './request-view.js';
import {
  createRequestBody,
  updateRequestBody,
  type CreateRequestBody,
  type UpdateRequestBody,
} from './dto/create-request.request.js';
import {
  approveRequestBody,
  rejectRequestBody,
  type ApproveRequestBody,
  type RejectRequestBody,
} from './dto/decision.request.js';
import { listRequestsQuery, type ListRequestsQuery } from './dto/list-requests.request.js';
import {
  conflictRequestBody,
  reviewRequestBody,
  type ConflictRequestBody,
  type ReviewRequestBody,
} from './dto/review.request.js';

interface IdParams {
  id: string;
}

@ApiTags('allocation-requests')
@ApiBearerAuth()
@Controller('v1/allocation-requests')
export class AllocationRequestsController {
  constructor(
    private readonly createRequest: CreateRequestUseCase,
    private readonly updateDraft: UpdateDraftUseCase,
    private readonly submitRequest: SubmitRequestUseCase,
    private readonly withdrawRequest: WithdrawRequestUseCase,
    private readonly approveRequest: ApproveRequestUseCase,
    private readonly rejectRequest: RejectRequestUseCase,
    private readonly reviewRequest: ReviewRequestUseCase,
    private readonly declareConflictUseCase: DeclareConflictUseCase,
    private readonly queries: RequestQueries,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Draft an allocation request (members of the project)' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Body({ schema: createRequestBody }) body: CreateRequestBody,
  ) {
    return this.detail(principal, await this.createRequest.execute({ principal, requestId }, body));
  }

  @Get()
  @ApiOperation({ summary: 'Requests the caller may see; sort=score ranks by average weighted review score' })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listRequestsQuery }) query: ListRequestsQuery,
  ) {
    const page = await this.queries.list(principal, query);
    return {
      items: page.items.map((item) => ({
        ...summaryView(item.request, item.lines, item.reviewMillis, item.viewer),
        ...(item.rank === undefined ? {} : { rank: item.rank }),
      })),
      nextCursor: page.nextCursor,
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A request with lines, reviews, allocations and its audit history' })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: IdParams) {
    return this.detail(principal, params.id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Edit a draft; `lines` replaces every line' })
  async update(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: updateRequestBody }) body: UpdateRequestBody,
  ) {
    await this.updateDraft.execute({ principal, requestId }, params.id, body);
    return this.detail(principal, params.id);
  }

  @Post(':id/submit')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Submit a draft; 422 ELIGIBILITY_FAILED lists every failed rule' })
  async submit(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
  ) {
    await this.submitRequest.execute({ principal, requestId }, params.id);
    return this.detail(principal, params.id);
  }

  @Post(':id/withdraw')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Withdraw a request before it is decided' })
  async withdraw(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
  ) {
    await this.withdrawRequest.execute({ principal, requestId }, params.id);
    return this.detail(principal, params.id);
  }

  @Post(':id/reviews')
  @ApiOperation({ summary: 'Score a request (reviewers assigned to its program)' })
  review(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: reviewRequestBody }) body: ReviewRequestBody,
  ) {
    return this.reviewRequest.execute({ principal, requestId }, params.id, body);
  }

  @Post(':id/conflicts')
  @ApiOperation({ summary: 'Declare a conflict of interest with a request (reviewers)' })
  declareConflict(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: conflictRequestBody }) body: ConflictRequestBody,
  ) {
    return this.declareConflictUseCase.execute({ principal, requestId }, params.id, body.reason);
  }

  // Only admins decide: the use case enforces libs/domain's rule (`assertMayTake`), the one that
  // allowedActions follows too.
  @Post(':id/approve')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Approve, possibly granting less line by line (admin); the grant is created by the scheduler',
  })
  async approve(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: approveRequestBody }) body: ApproveRequestBody,
  ) {
    await this.approveRequest.execute({ principal, requestId }, params.id, body);
    return this.detail(principal, params.id);
  }

  @Post(':id/reject')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Reject a request (admin)' })
  async reject(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: rejectRequestBody }) body: RejectRequestBody,
  ) {
    await this.rejectRequest.execute({ principal, requestId }, params.id, body);
    return this.detail(principal, params.id);
  }

  /** Every command answers with the request as GET /v1/allocation-requests/:id shows it. */
  private async detail(principal: Principal, id: string) {
    return detailView(await this.queries.get(principal, id));
  }
}
