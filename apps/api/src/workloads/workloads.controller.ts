import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import {
  CancelWorkloadUseCase,
  SubmitBatchUseCase,
  SubmitWorkloadUseCase,
  WorkloadQueries,
} from '#application';
import { allowedWorkloadActions } from '#domain';
import { CurrentPrincipal, RequestId } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { listWorkloadsQuery, type ListWorkloadsQuery } from './dto/list-workloads.request.js';
import {
  submitBatchBody,
  submitWorkloadBody,
  type SubmitBatchBody,
  type SubmitWorkloadBody,
} from './dto/submit-workload.request.js';
import {
  batchResponse,
  workloadPageResponse,
  workloadResponse,
  type BatchResponse,
  type WorkloadResponse,
} from './dto/workload.response.js';
import { workloadView } from './workload-view.js';
import { workloadAttemptsView } from './workload-attempts-view.js';
import { workloadAttemptsResponse, type WorkloadAttemptsResponse } from './dto/workload-attempts.response.js';

/** A batch answer lists its ids up to this many elements. */
const BATCH_IDS_LISTED = 1000;

const REFUSALS =
  'A rule is broken; `error.code` is the first of: ALLOCATION_NOT_ACTIVE, GPU_MODEL_NOT_IN_ALLOCATION, ' +
  'EXCEEDS_CONCURRENCY_CAP, NO_PLACEMENT_POSSIBLE, WALLTIME_BEYOND_WINDOW, INSUFFICIENT_QUOTA, and ' +
  '`error.details` lists every broken rule as `{rule, field, message}`.';

@ApiTags('workloads')
@ApiBearerAuth()
@Controller('v1/workloads')
export class WorkloadsController {
  constructor(
    private readonly submitWorkload: SubmitWorkloadUseCase,
    private readonly submitSweep: SubmitBatchUseCase,
    private readonly cancelWorkload: CancelWorkloadUseCase,
    private readonly queries: WorkloadQueries,
  ) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Queue a workload against an allocation (members of its project, admins)',
    description:
      'Accepted workloads are queued; the scheduler admits them when quota (remaining ≥ gpus × walltime), ' +
      'the concurrency cap and capacity allow. Queued workloads report why they wait under `wait`.',
  })
  @ApiAcceptedResponse({ standardSchema: workloadResponse })
  @ApiUnprocessableEntityResponse({ description: REFUSALS })
  async submit(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Body({ schema: submitWorkloadBody }) body: SubmitWorkloadBody,
  ): Promise<WorkloadResponse> {
    const workload = await this.submitWorkload.execute({ principal, requestId }, body);
    // The submitter passed SubmissionCheck.mayAct, so they may cancel what they just queued.
    return workloadView(workload, [], allowedWorkloadActions(workload.state, true));
  }

  @Post('batch')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Queue a sweep of `count` identical workloads named `<name>[i]` (like a Slurm job array)',
    description:
      'All elements are validated together; the quota rule is checked for one element ' +
      '(remaining ≥ gpus × walltime) and each element is checked again when it is admitted, so a ' +
      'sweep larger than the quota runs as far as the quota goes and the rest waits with reason `quota`.',
  })
  @ApiAcceptedResponse({ standardSchema: batchResponse })
  @ApiUnprocessableEntityResponse({ description: REFUSALS })
  async submitBatch(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Body({ schema: submitBatchBody }) body: SubmitBatchBody,
  ): Promise<BatchResponse> {
    const { batchId, ids } = await this.submitSweep.execute({ principal, requestId }, body);
    return {
      batchId,
      count: ids.length,
      state: 'queued',
      ...(ids.length <= BATCH_IDS_LISTED ? { ids } : {}),
    };
  }

  @Get()
  @ApiOperation({ summary: 'Workloads of the projects the caller may see, newest first' })
  @ApiOkResponse({ standardSchema: workloadPageResponse })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listWorkloadsQuery }) query: ListWorkloadsQuery,
  ): Promise<{ items: WorkloadResponse[]; nextCursor: string | null }> {
    const { limit, cursor, ...filters } = query;
    const page = await this.queries.list(principal, filters, { limit, cursor });
    return {
      items: page.items.map((item) => workloadView(item.workload, item.placement, item.allowedActions)),
      nextCursor: page.nextCursor,
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A workload: state, placement, timestamps, hold and usage, and why it waits' })
  @ApiOkResponse({ standardSchema: workloadResponse })
  @ApiNotFoundResponse({ description: 'Unknown, or of a project the caller may not see.' })
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
  ): Promise<WorkloadResponse> {
    const { workload, placement, allowedActions } = await this.queries.get(principal, params.id);
    return workloadView(workload, placement, allowedActions);
  }

  @Get(':id/attempts')
  @ApiOperation({
    summary: "A workload's admission attempts: each one's times, hold and usage, and why it was requeued",
    description:
      'An attempt before the current one was requeued: preempted, or failed by the infrastructure (its node ' +
      'went down, its run was lost), in which case its usage was refunded and the workload kept its place in ' +
      "the queue, up to its program's infrastructureRequeueLimit.",
  })
  @ApiOkResponse({ standardSchema: workloadAttemptsResponse })
  @ApiNotFoundResponse({ description: 'Unknown, or of a project the caller may not see.' })
  async attempts(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
  ): Promise<WorkloadAttemptsResponse> {
    const { workload, attempts } = await this.queries.attempts(principal, params.id);
    return workloadAttemptsView(workload, attempts);
  }

  @Post(':id/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Cancel a queued, admitted or running workload (members of its project, admins)',
    description:
      'A running workload is stopped on its cluster; the GPU-seconds it ran are consumed, the rest of its hold returns.',
  })
  @ApiOkResponse({ standardSchema: workloadResponse })
  @ApiConflictResponse({ description: 'ILLEGAL_TRANSITION: the workload has already ended.' })
  async cancel(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: { id: string },
  ): Promise<WorkloadResponse> {
    await this.cancelWorkload.execute({ principal, requestId }, params.id);
    return this.get(principal, params);
  }
}
