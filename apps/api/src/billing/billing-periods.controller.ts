import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { BillingPeriodsService } from './billing-periods.service.js';
import {
  listPeriodsQuery,
  periodParams,
  type ListPeriodsQuery,
  type PeriodParams,
} from './dto/billing-period.request.js';
import {
  billingPeriodPageResponse,
  billingPeriodResponse,
  closedPeriodResponse,
} from './dto/billing-period.response.js';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/billing/periods')
export class BillingPeriodsController {
  constructor(private readonly periods: BillingPeriodsService) {}

  @Roles('admin', 'finance')
  @Get()
  @ApiOperation({ summary: 'Billing periods that were ever closed or being closed, newest first' })
  @ApiOkResponse({ standardSchema: billingPeriodPageResponse })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listPeriodsQuery }) query: ListPeriodsQuery,
  ) {
    return this.periods.list(principal, query);
  }

  @Roles('admin', 'finance')
  @Get(':period')
  @ApiOperation({ summary: 'One billing period (YYYY-MM, an Asia/Seoul month): state and totals' })
  @ApiOkResponse({ standardSchema: billingPeriodResponse })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: periodParams }) params: PeriodParams) {
    return this.periods.get(principal, params.period);
  }

  @Roles('finance')
  @Post(':period/close')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'Close a billing period (finance not tied to an agency, audited): its statements never change again',
    description:
      'The month must be over in Asia/Seoul (409 PERIOD_NOT_OVER) and open (409 ILLEGAL_TRANSITION when ' +
      'closed); earlier months with usage close first (409 EARLIER_PERIOD_OPEN) and a month before a ' +
      'closed one does not close on its own (409 LATER_PERIOD_CLOSED). Every posted usage ' +
      'record piece of the month is priced per allocation, GPU model and rate card (a price change ' +
      'mid-month gives two lines) with the program’s pricing policy and the organization’s type; usage of ' +
      'earlier, closed months that arrived since their close is added as ChargeClass "Correction" lines ' +
      'naming their month, and usage refunded after it was billed is credited the same way. Usage of a ' +
      'GPU model without a rate card in effect is 422 NO_RATE_CARD (nothing changes). The period’s usage ' +
      'is checked against the ledger’s daily rollups (409 STATEMENT_LEDGER_MISMATCH).',
  })
  @ApiOkResponse({ standardSchema: closedPeriodResponse })
  @ApiConflictResponse({
    description:
      'PERIOD_NOT_OVER, ILLEGAL_TRANSITION, EARLIER_PERIOD_OPEN, LATER_PERIOD_CLOSED, CLOSE_IN_PROGRESS, ' +
      'STATEMENT_LEDGER_MISMATCH.',
  })
  @ApiUnprocessableEntityResponse({ description: 'NO_RATE_CARD.' })
  close(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: periodParams }) params: PeriodParams,
    @RequestId() requestId: string | null,
  ) {
    return this.periods.close(principal, params.period, requestId);
  }
}
