import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  AssignProgramReviewerUseCase,
  ChangeProgramPolicyUseCase,
  CreateProgramUseCase,
  ProgramQueries,
  RemoveProgramReviewerUseCase,
} from '#application';
import { CurrentPrincipal, RequestId, Roles, Scopes } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  assignReviewerRequest,
  listReviewersQuery,
  reviewerParams,
  type AssignReviewerRequest,
  type ListReviewersQuery,
  type ReviewerParams,
} from './dto/program-reviewer.request.js';
import {
  createProgramRequest,
  listProgramsQuery,
  sectorTargetsSchema,
  usagePolicyRequest,
  type CreateProgramRequest,
  type ListProgramsQuery,
  type SectorTargetsRequest,
  type UsagePolicyRequest,
} from './dto/program.request.js';

@ApiTags('programs')
@ApiBearerAuth()
@Controller('v1/programs')
export class ProgramsController {
  constructor(
    private readonly createProgram: CreateProgramUseCase,
    private readonly changePolicy: ChangeProgramPolicyUseCase,
    private readonly assignReviewer_: AssignProgramReviewerUseCase,
    private readonly removeReviewer_: RemoveProgramReviewerUseCase,
    private readonly programs: ProgramQueries,
  ) {}

  @Roles('admin')
  @Post()
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createProgramRequest }) body: CreateProgramRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.createProgram.execute(principal, body, requestId);
  }

  /** The public list of calls; `assignedToMe=true` is the reviewer's view of the calls they review. */
  @Scopes('read')
  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listProgramsQuery }) query: ListProgramsQuery,
  ) {
    return this.programs.list(principal, query);
  }

  @Scopes('read')
  @Get(':id')
  get(@Param({ schema: idParams }) params: { id: string }) {
    return this.programs.get(params.id);
  }

  @Roles('admin')
  @Put(':id/usage-policy')
  @ApiOperation({
    summary: "Replace a program's usage policy: onExhaustion and recall rules (admin, audited)",
    description:
      'Recall rules are checked by the domain: 400 INVALID_RECALL_RULES lists every problem and changes nothing.',
  })
  updateUsagePolicy(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: usagePolicyRequest }) body: UsagePolicyRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.changePolicy.usagePolicy(principal, params.id, body, requestId);
  }

  @Roles('admin')
  @Put(':id/sector-targets')
  @ApiOperation({
    summary:
      "Replace a program's sector targets: whole percents of national, industry, academia adding up to 100 (admin, audited)",
    description:
      'Reserved allocations already placed keep their place; the waitlists of the program’s GPU models are re-planned ' +
      'under the new targets. 400 INVALID_SECTOR_TARGETS lists every problem and changes nothing.',
  })
  updateSectorTargets(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: sectorTargetsSchema }) body: SectorTargetsRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.changePolicy.sectorTargets(principal, params.id, body, requestId);
  }

  @Roles('admin')
  @Post(':id/reviewers')
  assignReviewer(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: assignReviewerRequest }) body: AssignReviewerRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.assignReviewer_.execute(principal, params.id, body.userId, requestId);
  }

  @Roles('admin')
  @Get(':id/reviewers')
  listReviewers(
    @Param({ schema: idParams }) params: { id: string },
    @Query({ schema: listReviewersQuery }) query: ListReviewersQuery,
  ) {
    return this.programs.reviewers(params.id, query);
  }

  @Roles('admin')
  @Delete(':id/reviewers/:userId')
  @HttpCode(HttpStatus.NO_CONTENT)
  removeReviewer(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: reviewerParams }) params: ReviewerParams,
    @RequestId() requestId: string | null,
  ) {
    return this.removeReviewer_.execute(principal, params.id, params.userId, requestId);
  }
}
