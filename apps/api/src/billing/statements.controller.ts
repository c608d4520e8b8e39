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
import { statementsQuery, type StatementsQuery } from './dto/statement.request.js';
import { statementsResponse } from './dto/statement.response.js';
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
      'PERIOD_NOT_CLOSED for an open or closing period. Paged by key with limit and cursor.',
  })
  @ApiOkResponse({ standardSchema: statementsResponse })
  @ApiForbiddenResponse({ description: 'Not finance or admin; another agency.' })
  @ApiConflictResponse({ description: 'PERIOD_NOT_CLOSED.' })
  list(@CurrentPrincipal() principal: Principal, @Query({ schema: statementsQuery }) query: StatementsQuery) {
    return this.statements.statements(principal, query);
  }
}
