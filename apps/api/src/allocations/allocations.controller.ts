import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { AllocationQueries, ChangeAllocationStatusUseCase } from '#application';
import { allocationReadView } from './dto/allocation.response.js';
import {
  listAllocationsQuery,
  resumeAllocationRequest,
  suspendAllocationRequest,
  type ListAllocationsQuery,
  type ResumeAllocationRequest,
  type SuspendAllocationRequest,
} from './dto/allocation.request.js';

@ApiTags('allocations')
@ApiBearerAuth()
@Controller('v1/allocations')
export class AllocationsController {
  constructor(
    private readonly allocations: AllocationQueries,
    private readonly status: ChangeAllocationStatusUseCase,
  ) {}

  @Get()
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listAllocationsQuery }) query: ListAllocationsQuery,
  ) {
    const page = await this.allocations.list(principal, query);
    return { items: page.items.map(allocationReadView), nextCursor: page.nextCursor };
  }

  @Get(':id')
  async get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return allocationReadView(await this.allocations.get(principal, params.id));
  }

  @Roles('admin')
  @Post(':id/suspend')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Suspend an active allocation (admin): no more admissions; 409 ILLEGAL_TRANSITION otherwise',
    description:
      'The project is notified (allocation_suspended). When the program stops running workloads ' +
      '(onExhaustion "stop"), its admitted and running workloads are cancelled and their clusters told.',
  })
  async suspend(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: suspendAllocationRequest }) body: SuspendAllocationRequest,
    @RequestId() requestId: string | null,
  ) {
    await this.status.suspend({ principal, requestId }, params.id, body.reason);
    return allocationReadView(await this.allocations.get(principal, params.id));
  }

  @Roles('admin')
  @Post(':id/resume')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Resume a suspended allocation (admin); 409 ILLEGAL_TRANSITION for any other status',
    description: 'The body is optional: `{ "reason": "…" }` is shown to the project.',
  })
  @ApiBody({ required: false, schema: z.toJSONSchema(resumeAllocationRequest.unwrap()) as object })
  async resume(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: resumeAllocationRequest }) body: ResumeAllocationRequest,
    @RequestId() requestId: string | null,
  ) {
    await this.status.resume({ principal, requestId }, params.id, body?.reason);
    return allocationReadView(await this.allocations.get(principal, params.id));
  }
}
