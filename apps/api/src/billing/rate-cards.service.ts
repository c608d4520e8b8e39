import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { conflict, formatSeoulDateTime, periodBounds, validateRateCards } from '#domain';
import { CLOSE_LOCK_KEY, RateCardEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { isUniqueViolation, keysetPage } from '../common/query-support.js';
import type { Page } from '../common/pagination.js';
import type { CreateRateCardRequest, ListRateCardsQuery } from './dto/rate-card.request.js';
import { rateCardView, type RateCardResponse } from './dto/rate-card.response.js';

/**
 * Rate cards: a GPU model's list price from an instant on. A card never changes (a price change is a
 * new card) and may not take effect inside a period that is closing or closed, whose lines are fixed.
 */
@Injectable()
export class RateCardsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    body: CreateRateCardRequest,
    requestId: string | null,
  ): Promise<RateCardResponse> {
    const effectiveFrom = new Date(body.effectiveFrom);
    const krwPerGpuHour = BigInt(body.krwPerGpuHour);
    validateRateCards([{ gpuModel: body.gpuModel, krwPerGpuHour, effectiveFrom }]);
    const createdBy = principal.kind === 'user' ? principal.userId : principal.createdBy;
    try {
      return await this.dataSource.transaction(async (manager) => {
        // A close reads the cards in its snapshot after marking its period closing; the lock makes a
        // card wait for a close in progress, so it then sees that period closing and is refused.
        await manager.query('SELECT pg_advisory_xact_lock_shared(hashtext($1))', [CLOSE_LOCK_KEY]);
        const [fixed] = await manager.query<{ period: string }[]>(
          `SELECT period FROM billing_periods WHERE status IN ('closing', 'closed') ORDER BY period DESC LIMIT 1`,
        );
        if (fixed && effectiveFrom.getTime() < periodBounds(fixed.period).endsAt.getTime()) {
          const end = periodBounds(fixed.period).endsAt;
          throw conflict(
            'PERIOD_CLOSED',
            `Billing period ${fixed.period} is closed (or closing), so prices before ${formatSeoulDateTime(end)} are fixed; give an effectiveFrom at or after it.`,
            { period: fixed.period, earliestEffectiveFrom: end.toISOString() },
          );
        }
        const card = await manager
          .getRepository(RateCardEntity)
          .save({ gpuModel: body.gpuModel, krwPerGpuHour, effectiveFrom, createdBy });
        const view = rateCardView(card);
        await this.audit.record(manager, {
          principal,
          action: 'rate_card.created',
          subjectType: 'rate_card',
          subjectId: card.id,
          after: view,
          requestId,
        });
        return view;
      });
    } catch (error) {
      if (isUniqueViolation(error, 'uq_rate_cards_model_effective_from')) {
        throw conflict(
          'RATE_CARD_EXISTS',
          `A ${body.gpuModel} rate card already takes effect at ${effectiveFrom.toISOString()}; cards never change, so give another instant.`,
          { gpuModel: body.gpuModel, effectiveFrom: effectiveFrom.toISOString() },
        );
      }
      throw error;
    }
  }

  async list(query: ListRateCardsQuery): Promise<Page<RateCardResponse>> {
    const builder = this.dataSource.getRepository(RateCardEntity).createQueryBuilder('c');
    if (query.gpuModel !== undefined)
      builder.andWhere('c.gpu_model = :gpuModel', { gpuModel: query.gpuModel });
    return keysetPage(builder, query, rateCardView);
  }
}
