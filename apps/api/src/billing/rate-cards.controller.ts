import { Body, Controller, Get, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import {
  createRateCardRequest,
  listRateCardsQuery,
  type CreateRateCardRequest,
  type ListRateCardsQuery,
} from './dto/rate-card.request.js';
import { rateCardPageResponse, rateCardResponse } from './dto/rate-card.response.js';
import { RateCardsService } from './rate-cards.service.js';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/rate-cards')
export class RateCardsController {
  constructor(private readonly rateCards: RateCardsService) {}

  @Roles('admin')
  @Post()
  @ApiOperation({
    summary: 'Add a rate card: KRW per GPU-hour of a GPU model from an instant on (admin, audited)',
    description:
      'A price change is a new card: a card in effect mid-month splits that month’s lines at the change. ' +
      'effectiveFrom is a whole second and may not fall before the end of the latest closed (or closing) ' +
      'period (409 PERIOD_CLOSED); one card per model and instant (409 RATE_CARD_EXISTS).',
  })
  @ApiCreatedResponse({ standardSchema: rateCardResponse })
  @ApiConflictResponse({ description: 'PERIOD_CLOSED or RATE_CARD_EXISTS.' })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createRateCardRequest }) body: CreateRateCardRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.rateCards.create(principal, body, requestId);
  }

  @Roles('admin', 'finance', 'operator')
  @Get()
  @ApiOperation({ summary: 'Rate cards, newest first (admins, finance, operators)' })
  @ApiOkResponse({ standardSchema: rateCardPageResponse })
  list(@Query({ schema: listRateCardsQuery }) query: ListRateCardsQuery) {
    return this.rateCards.list(query);
  }
}
