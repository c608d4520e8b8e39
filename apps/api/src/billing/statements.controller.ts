import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import {
  statementsPreviewQuery,
  statementsQuery,
  type StatementsPreviewQuery,
  type StatementsQuery,
} from './dto/statement.request.js';
import { statementsPreviewResponse, statementsResponse } from './dto/statement.response.js';
import { StatementsService } from './statements.service.js';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/billing/statements')
export class StatementsController {
  constructor(private readonly statements: StatementsService) {}

  @Roles('admin', 'finance')
  @Get()
  @ApiOperation({
    summary: 'Statements of a closed period per project, organization, program or agency',
    description:
      'GPU-hours, list value, discount, supply price, subsidy, co-pay, VAT and the totals each side pays, ' +
      'summed exactly from the period’s priced lines (amounts are whole won as decimal strings). A finance ' +
      'user of an agency sees that agency only (naming another: 403 AGENCY_OUT_OF_SCOPE). 409 ' +
      'PERIOD_NOT_CLOSED for an open or closing period (GET /v1/billing/statements/preview previews an open ' +
      'one). Paged by key with limit and cursor. `preview` is false.',
  })
  @ApiOkResponse({ standardSchema: statementsResponse })
  @ApiForbiddenResponse({ description: 'Not finance or admin; another agency.' })
  @ApiConflictResponse({ description: 'PERIOD_NOT_CLOSED.' })
  list(@CurrentPrincipal() principal: Principal, @Query({ schema: statementsQuery }) query: StatementsQuery) {
    return this.statements.statements(principal, query);
  }

  @Roles('admin', 'finance')
  @Get('preview')
  @ApiOperation({
    summary: 'Preview the statements of an open period (default: the current month), not stored',
    description:
      'Computed exactly as the period’s close would compute its lines now (same usage pieces, rate cards, ' +
      'policies and rounding), in a read-only transaction: nothing is stored, no close is held up, and the ' +
      'answer is marked `preview: true` with `asOf`. Late usage and refund credits of closed periods are ' +
      'included when this period’s close would carry them (`correctionsIncluded`); when an earlier period ' +
      'with usage is still open (`earlierOpenPeriod`) its close takes them instead. Same groupings, scope ' +
      'and paging as the statements; each call recomputes the whole period from its usage records. 409 ' +
      'PERIOD_CLOSED (read the statements), PERIOD_CLOSING, PERIOD_NOT_STARTED, LATER_PERIOD_CLOSED.',
  })
  @ApiOkResponse({ standardSchema: statementsPreviewResponse })
  @ApiForbiddenResponse({ description: 'Not finance or admin; another agency.' })
  @ApiConflictResponse({
    description: 'PERIOD_CLOSED, PERIOD_CLOSING, PERIOD_NOT_STARTED, LATER_PERIOD_CLOSED.',
  })
  preview(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: statementsPreviewQuery }) query: StatementsPreviewQuery,
  ) {
    return this.statements.preview(principal, query);
  }
}
