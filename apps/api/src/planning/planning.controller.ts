import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { PlanningQueries, ReleaseReservedServersUseCase, WhatIfUseCase } from '#application';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import {
  allocationIdParams,
  releaseRequest,
  waitlistQuery,
  whatIfRequest,
  type ReleaseRequest,
  type WaitlistQuery,
  type WhatIfRequest,
} from './dto/planning.request.js';
import { toWaitlistEntryResponse, waitlistPageResponse, whatIfResponse } from './dto/planning.response.js';
import { reservationStandingResponse, reservationStandingView } from './dto/reservation.response.js';

@ApiTags('planning')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/planning')
export class PlanningController {
  constructor(
    private readonly whatIfUseCase: WhatIfUseCase,
    private readonly queries: PlanningQueries,
    private readonly releaseUseCase: ReleaseReservedServersUseCase,
  ) {}

  @Post('what-if')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Plan pending requests’ reserved lines on a copy of the calendar; changes nothing (admin)',
    description:
      'The approved queue (pending and waitlisted reserved allocations) is planned first, in approval order, ' +
      'then the given requests (or the program’s whole pending list) in order. Per line: fits or not, cluster, ' +
      'node names and window, or the earliest feasible start and why; and reserved GPU-seconds against ' +
      'capacity per GPU model and Seoul month, before and after, as exact integers.',
  })
  @ApiOkResponse({ standardSchema: whatIfResponse })
  whatIf(@Body({ schema: whatIfRequest }) body: WhatIfRequest) {
    return this.whatIfUseCase.execute(body);
  }

  @Get('waitlist')
  @ApiOperation({
    summary: 'Waitlisted reserved allocations with their earliest feasible start and reason (admin)',
  })
  @ApiOkResponse({ standardSchema: waitlistPageResponse })
  async waitlist(@Query({ schema: waitlistQuery }) query: WaitlistQuery) {
    const page = await this.queries.waitlist(query);
    return { items: page.items.map(toWaitlistEntryResponse), nextCursor: page.nextCursor };
  }

  @Post('reservations/:allocationId/release')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Release reserved servers early (admin); the waitlist of the model is re-planned',
    description:
      'The named nodes (all when none are named) stop being held at `at` (default now). The one way a ' +
      'reservation gets shorter; audited.',
  })
  @ApiOkResponse({ standardSchema: reservationStandingResponse })
  async release(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: allocationIdParams }) params: { allocationId: string },
    @Body({ schema: releaseRequest }) body: ReleaseRequest,
  ) {
    const standing = await this.releaseUseCase.execute({
      principal,
      requestId,
      allocationId: params.allocationId,
      ...body,
    });
    return reservationStandingView(standing);
  }
}
