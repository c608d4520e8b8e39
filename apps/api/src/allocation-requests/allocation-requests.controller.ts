import { Body, Controller, Get, HttpCode, HttpStatus, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DeclareConflictUseCase, RequestQueries, ReviewRequestUseCase } from '#application';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { AllocationRequestsService } from './allocation-requests.service.js';
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
    private readonly requests: AllocationRequestsService,
    private readonly reviewRequest: ReviewRequestUseCase,
    private readonly declareConflictUseCase: DeclareConflictUseCase,
    private readonly queries: RequestQueries,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Draft an allocation request (members of the project)' })
  create(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Body({ schema: createRequestBody }) body: CreateRequestBody,
  ) {
    return this.requests.create({ principal, requestId }, body);
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
  async get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: IdParams) {
    return detailView(await this.queries.get(principal, params.id));
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Edit a draft; `lines` replaces every line' })
  update(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: updateRequestBody }) body: UpdateRequestBody,
  ) {
    return this.requests.update({ principal, requestId }, params.id, body);
  }

  @Post(':id/submit')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Submit a draft; 422 ELIGIBILITY_FAILED lists every failed rule' })
  submit(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
  ) {
    return this.requests.submit({ principal, requestId }, params.id);
  }

  @Post(':id/withdraw')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Withdraw a request before it is decided' })
  withdraw(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
  ) {
    return this.requests.withdraw({ principal, requestId }, params.id);
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

  @Post(':id/approve')
  @Roles('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Approve, possibly granting less line by line (admin); the grant is created by the scheduler',
  })
  approve(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: approveRequestBody }) body: ApproveRequestBody,
  ) {
    return this.requests.approve({ principal, requestId }, params.id, body);
  }

  @Post(':id/reject')
  @Roles('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Reject a request (admin)' })
  reject(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: IdParams,
    @Body({ schema: rejectRequestBody }) body: RejectRequestBody,
  ) {
    return this.requests.reject({ principal, requestId }, params.id, body);
  }
}
