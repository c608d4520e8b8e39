import { Injectable } from '@nestjs/common';
import {
  agencyVisibleTo,
  assertEffectiveAfterFixedPeriod,
  billingScopeOf,
  conflict,
  notFound,
  validatePricingPolicy,
  validateRateCards,
  type PricingPolicy,
  type Principal,
} from '#domain';
import {
  AuditRepository,
  BillingPricingRepository,
  effectivePolicy,
  policyJson,
  storedPolicyJson,
  subsidyRatesFrom,
  TransactionRunner,
  type BillingProgram,
  type Page,
  type PageQuery,
  type RateCardEntity,
  type StoredPricingPolicy,
  type Tx,
} from '#persistence';

function actorIdOf(principal: Principal): string {
  return principal.kind === 'user' ? principal.userId : principal.createdBy;
}

/** A rate card as the audit trail and the API show it. */
export function rateCardRecord(card: RateCardEntity): {
  id: string;
  gpuModel: string;
  krwPerGpuHour: string;
  effectiveFrom: string;
  createdBy: string;
  createdAt: string;
} {
  return {
    id: card.id,
    gpuModel: card.gpuModel,
    krwPerGpuHour: card.krwPerGpuHour.toString(),
    effectiveFrom: card.effectiveFrom.toISOString(),
    createdBy: card.createdBy,
    createdAt: card.createdAt.toISOString(),
  };
}

/**
 * Rate cards: a GPU model's list price from an instant on. A card never changes (a price change is a
 * new card) and may not take effect inside a period that is closing or closed, whose lines are fixed.
 */
@Injectable()
export class CreateRateCardUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly pricing: BillingPricingRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(input: {
    principal: Principal;
    gpuModel: string;
    krwPerGpuHour: bigint;
    effectiveFrom: Date;
    requestId: string | null;
  }): Promise<RateCardEntity> {
    const { principal, gpuModel, krwPerGpuHour, effectiveFrom } = input;
    validateRateCards([{ gpuModel, krwPerGpuHour, effectiveFrom }]);
    return this.transactions.run(async (tx) => {
      // A close reads the cards in its snapshot after marking its period closing; waiting for a close
      // in progress means this card then sees that period closing and is refused.
      await this.pricing.waitForCloseInProgress(tx);
      assertEffectiveAfterFixedPeriod(effectiveFrom, await this.pricing.latestFixedPeriod(tx));
      const card = await this.pricing.insertRateCard(tx, {
        gpuModel,
        krwPerGpuHour,
        effectiveFrom,
        createdBy: actorIdOf(principal),
      });
      if (card === null) {
        throw conflict(
          'RATE_CARD_EXISTS',
          `A ${gpuModel} rate card already takes effect at ${effectiveFrom.toISOString()}; cards never change, so give another instant.`,
          { gpuModel, effectiveFrom: effectiveFrom.toISOString() },
        );
      }
      await this.audit.record(tx, {
        principal,
        action: 'rate_card.created',
        subjectType: 'rate_card',
        subjectId: card.id,
        after: rateCardRecord(card),
        requestId: input.requestId,
      });
      return card;
    });
  }
}

/** A program's effective pricing policy and when its stored one was last changed (null: default). */
export interface ProgramPricingView {
  programId: string;
  policy: PricingPolicy;
  updated: { updatedBy: string; updatedAt: Date } | null;
}

/**
 * Programs' pricing policies (discounts per organization type, VAT payer and base, rounding). A
 * program without one prices with libs/domain's KOREAN_VOUCHER_POLICY; subsidies are always the
 * program's own subsidy rates. A change applies to periods closed after it (closed ones never change).
 */
@Injectable()
export class ProgramPricingUseCases {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly pricing: BillingPricingRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** The policy a program prices with; a program of another agency is a 404 for its finance users. */
  async get(principal: Principal, programId: string): Promise<ProgramPricingView> {
    const scope = billingScopeOf(principal);
    const program = await this.pricing.program(programId);
    if (!program || !agencyVisibleTo(scope, program.agencyCode)) throw notFound('Program', programId);
    return this.view(program);
  }

  async replace(input: {
    principal: Principal;
    programId: string;
    policy: StoredPricingPolicy;
    requestId: string | null;
  }): Promise<ProgramPricingView> {
    const { principal, programId } = input;
    const stored = storedPolicyJson(input.policy);
    return this.transactions.run(async (tx) => {
      const program = await this.pricing.program(programId, { tx, lock: true });
      if (!program) throw notFound('Program', programId);
      // The domain checks the whole policy with the program's subsidies: 400 INVALID_PRICING_POLICY.
      validatePricingPolicy({ ...stored, subsidyBasisPoints: subsidyRatesFrom(program.subsidyRates) });
      const before = await this.view(program, tx);
      await this.pricing.savePolicy(tx, {
        programId,
        policy: stored,
        updatedBy: actorIdOf(principal),
        updatedAt: new Date(),
      });
      const after = await this.view(program, tx);
      await this.audit.record(tx, {
        principal,
        action: 'program.pricing_changed',
        subjectType: 'program',
        subjectId: programId,
        before: policyJson(before.policy),
        after: policyJson(after.policy),
        requestId: input.requestId,
      });
      return after;
    });
  }

  private async view(program: BillingProgram, tx?: Tx): Promise<ProgramPricingView> {
    const stored = await this.pricing.storedPolicy(program.id, tx);
    return {
      programId: program.id,
      policy: effectivePolicy(stored?.policy ?? null, program.subsidyRates),
      updated: stored ? { updatedBy: stored.updatedBy, updatedAt: stored.updatedAt } : null,
    };
  }
}

/** Rate cards, newest first, optionally of one GPU model. */
@Injectable()
export class RateCardQueries {
  constructor(private readonly pricing: BillingPricingRepository) {}

  list(filter: { gpuModel?: string }, page: PageQuery): Promise<Page<RateCardEntity>> {
    return this.pricing.rateCardsPage(filter, page);
  }
}
