import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
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
  billingCloseResponse,
  billingPeriodPageResponse,
  billingPeriodResponse,
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
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      'Request the close of a billing period (finance not tied to an agency, audited): its statements never change again',
    description:
      'Answers 202 with the close (Location: where to poll it); the scheduler’s billing.close job runs it. ' +
      'A repeat while a close of the period is queued or running answers that close. What can be decided ' +
      'up front is refused at once; the rest fails the close (its error). The month must be over in Asia/Seoul (409 PERIOD_NOT_OVER) and open (409 ILLEGAL_TRANSITION when ' +
      'closed); earlier months with usage close first (409 EARLIER_PERIOD_OPEN) and a month before a ' +
      'closed one does not close on its own (409 LATER_PERIOD_CLOSED). Every posted usage ' +
      'record piece of the month is priced per allocation, GPU model and rate card (a price change ' +
      'mid-month gives two lines) with the program’s pricing policy and the organization’s type; usage of ' +
      'earlier, closed months that arrived since their close is added as ChargeClass "Correction" lines ' +
      'naming their month, and usage refunded after it was billed is credited the same way. Usage of a ' +
      'GPU model without a rate card in effect is 422 NO_RATE_CARD (nothing changes). The period’s usage ' +
      'is checked against the ledger’s daily rollups (409 STATEMENT_LEDGER_MISMATCH).',
  })
  @ApiAcceptedResponse({ standardSchema: billingCloseResponse })
  @ApiConflictResponse({
    description:
      'PERIOD_NOT_OVER, ILLEGAL_TRANSITION, EARLIER_PERIOD_OPEN, LATER_PERIOD_CLOSED, CLOSE_IN_PROGRESS, ' +
      'STATEMENT_LEDGER_MISMATCH.',
  })
  @ApiUnprocessableEntityResponse({ description: 'NO_RATE_CARD.' })
  async close(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: periodParams }) params: PeriodParams,
    @RequestId() requestId: string | null,
    @Res({ passthrough: true }) response: Response,
  ) {
    const close = await this.periods.close(principal, params.period, requestId);
    response.setHeader('location', close.href);
    return close;
  }

  @Roles('admin', 'finance')
  @Get(':period/close')
  @ApiOperation({
    summary: 'The latest close of a billing period: its status, phase and, once succeeded, what it billed',
  })
  @ApiOkResponse({ standardSchema: billingCloseResponse })
  @ApiNotFoundResponse({ description: 'No close of the period was requested.' })
  getClose(@CurrentPrincipal() principal: Principal, @Param({ schema: periodParams }) params: PeriodParams) {
    return this.periods.latestClose(principal, params.period);
  }
}
