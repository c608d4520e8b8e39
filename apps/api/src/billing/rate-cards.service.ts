import { Injectable } from '@nestjs/common';
import { CreateRateCardUseCase, RateCardQueries } from '#application';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateRateCardRequest, ListRateCardsQuery } from './dto/rate-card.request.js';
import { rateCardView, type RateCardResponse } from './dto/rate-card.response.js';

/** Rate cards (CreateRateCardUseCase, RateCardQueries), as responses. */
@Injectable()
export class RateCardsService {
  constructor(
    private readonly createRateCard: CreateRateCardUseCase,
    private readonly rateCards: RateCardQueries,
  ) {}

  async create(
    principal: Principal,
    body: CreateRateCardRequest,
    requestId: string | null,
  ): Promise<RateCardResponse> {
    const card = await this.createRateCard.execute({
      principal,
      gpuModel: body.gpuModel,
      krwPerGpuHour: BigInt(body.krwPerGpuHour),
      effectiveFrom: new Date(body.effectiveFrom),
      requestId,
    });
    return rateCardView(card);
  }

  async list(query: ListRateCardsQuery): Promise<Page<RateCardResponse>> {
    const page = await this.rateCards.list(
      { gpuModel: query.gpuModel },
      { limit: query.limit, cursor: query.cursor },
    );
    return { items: page.items.map(rateCardView), nextCursor: page.nextCursor };
  }
}
