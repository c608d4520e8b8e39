import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { listRecallProposalsQuery, type ListRecallProposalsQuery } from './dto/recall.request.js';
import { recallProposalPageResponse, recallProposalResponse } from './dto/recall.response.js';
import { RecallsService } from './recalls.service.js';

const DECIDED = 'ILLEGAL_TRANSITION: the proposal was already confirmed or dismissed.';

@ApiTags('recalls')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/recall-proposals')
export class RecallsController {
  constructor(private readonly recalls: RecallsService) {}

  @Get()
  @ApiOperation({
    summary: "Recall proposals made by the programs' use-it-or-lose-it rules, newest first (admin)",
  })
  @ApiOkResponse({ standardSchema: recallProposalPageResponse })
  list(@Query({ schema: listRecallProposalsQuery }) query: ListRecallProposalsQuery) {
    return this.recalls.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ standardSchema: recallProposalResponse })
  @ApiNotFoundResponse({ description: 'No such proposal.' })
  get(@Param({ schema: idParams }) params: { id: string }) {
    return this.recalls.get(params.id);
  }

  @Post(':id/confirm')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Confirm a proposed recall: min(proposed, unused balance now) returns to the program (admin)',
    description: 'Posted once (allocation → program); the project is notified (recall_confirmed).',
  })
  @ApiOkResponse({ standardSchema: recallProposalResponse })
  @ApiConflictResponse({ description: DECIDED })
  confirm(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @RequestId() requestId: string | null,
  ) {
    return this.recalls.confirm({ principal, requestId }, params.id);
  }

  @Post(':id/dismiss')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Dismiss a proposed recall: nothing is taken (admin)' })
  @ApiOkResponse({ standardSchema: recallProposalResponse })
  @ApiConflictResponse({ description: DECIDED })
  dismiss(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @RequestId() requestId: string | null,
  ) {
    return this.recalls.dismiss({ principal, requestId }, params.id);
  }
}
