import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { DecideRecallUseCase, RecallQueries } from '#application';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { z } from 'zod';
import {
  decideRecallRequest,
  listRecallProposalsQuery,
  type ListRecallProposalsQuery,
} from './dto/recall.request.js';
import {
  recallProposalPageResponse,
  recallProposalResponse,
  toRecallProposalResponse,
} from './dto/recall.response.js';

const DECIDED = 'ILLEGAL_TRANSITION: the proposal was already confirmed or dismissed.';
/** Neither decision takes a body; one with any field is a 400. */
const NO_BODY = { required: false, schema: z.toJSONSchema(decideRecallRequest.unwrap()) as object };

@ApiTags('recalls')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/recall-proposals')
export class RecallsController {
  constructor(
    private readonly recalls: RecallQueries,
    private readonly decide: DecideRecallUseCase,
  ) {}

  @Get()
  @ApiOperation({
    summary: "Recall proposals made by the programs' use-it-or-lose-it rules, newest first (admin)",
  })
  @ApiOkResponse({ standardSchema: recallProposalPageResponse })
  async list(@Query({ schema: listRecallProposalsQuery }) query: ListRecallProposalsQuery) {
    const page = await this.recalls.list(query);
    return { items: page.items.map(toRecallProposalResponse), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @ApiOkResponse({ standardSchema: recallProposalResponse })
  @ApiNotFoundResponse({ description: 'No such proposal.' })
  async get(@Param({ schema: idParams }) params: { id: string }) {
    return toRecallProposalResponse(await this.recalls.get(params.id));
  }

  @Post(':id/confirm')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Confirm a proposed recall: min(proposed, unused balance now) returns to the program (admin)',
    description:
      'Posted once (allocation → program); the project is notified (recall_confirmed). For a reserved ' +
      'allocation the proposed servers are released early from now (never the last one unless the rule ' +
      'recalls all; idle ones first, then the highest node ids), through the admin release path (audited), ' +
      'their remaining server time, capped at the unused balance, returns to the program, and the GPU ' +
      "model's waitlist is re-planned.",
  })
  @ApiBody(NO_BODY)
  @ApiOkResponse({ standardSchema: recallProposalResponse })
  @ApiConflictResponse({ description: DECIDED })
  async confirm(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: decideRecallRequest }) _body: unknown,
    @RequestId() requestId: string | null,
  ) {
    const { proposal } = await this.decide.confirm({ principal, requestId, proposalId: params.id });
    return toRecallProposalResponse(proposal);
  }

  @Post(':id/dismiss')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Dismiss a proposed recall: nothing is taken (admin)' })
  @ApiBody(NO_BODY)
  @ApiOkResponse({ standardSchema: recallProposalResponse })
  @ApiConflictResponse({ description: DECIDED })
  async dismiss(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: decideRecallRequest }) _body: unknown,
    @RequestId() requestId: string | null,
  ) {
    return toRecallProposalResponse(
      await this.decide.dismiss({ principal, requestId, proposalId: params.id }),
    );
  }
}
