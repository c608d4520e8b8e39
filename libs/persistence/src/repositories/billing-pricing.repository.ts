import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  isOrganizationType,
  KOREAN_VOUCHER_POLICY,
  ORGANIZATION_TYPES,
  validatePricingPolicy,
  withSubsidyRates,
  type OrganizationType,
  type PricingPolicy,
} from '#domain';
import { ProgramPricingEntity, RateCardEntity } from '../entities/billing.entities.js';
import { isUniqueViolation, keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { CLOSE_LOCK_KEY } from './billing-close.repository.js';

/**
 * What `program_pricing.policy` holds: a PricingPolicy without the subsidy rates. Subsidies are the
 * program's own `subsidy_rates` (set when the program is created), so they have one home.
 */
export type StoredPricingPolicy = Omit<PricingPolicy, 'subsidyBasisPoints'>;

/** The program's subsidy rates (basis points per organization type) from `programs.subsidy_rates`. */
export function subsidyRatesFrom(json: unknown): Partial<Record<OrganizationType, number>> {
  const rates: Partial<Record<OrganizationType, number>> = {};
  if (typeof json !== 'object' || json === null) return rates;
  for (const [type, value] of Object.entries(json as Record<string, unknown>)) {
    if (isOrganizationType(type) && typeof value === 'number') rates[type] = value;
  }
  return rates;
}

/** The JSON stored for a policy (key order fixed, so the same policy is always the same JSON). */
export function storedPolicyJson(policy: StoredPricingPolicy): StoredPricingPolicy {
  return {
    discountsByOrgType: Object.fromEntries(
      ORGANIZATION_TYPES.map((type) => [type, [...policy.discountsByOrgType[type]]]),
    ) as unknown as StoredPricingPolicy['discountsByOrgType'],
    vat: {
      rateBasisPoints: policy.vat.rateBasisPoints,
      payer: policy.vat.payer,
      base: policy.vat.base,
    },
    rounding: {
      listValue: policy.rounding.listValue,
      discount: policy.rounding.discount,
      subsidy: policy.rounding.subsidy,
      vat: policy.rounding.vat,
    },
  };
}

/** A full policy (subsidies included) as JSON, for period snapshots. */
export function policyJson(policy: PricingPolicy): unknown {
  const subsidies: Record<string, number> = {};
  for (const type of ORGANIZATION_TYPES) {
    const rate = policy.subsidyBasisPoints[type];
    if (rate !== undefined) subsidies[type] = rate;
  }
  return { ...storedPolicyJson(policy), subsidyBasisPoints: subsidies };
}

/** A policy read back from JSON this code wrote; validated, so a corrupted row fails loudly. */
export function policyFromJson(json: unknown): PricingPolicy {
  const value = json as Partial<PricingPolicy> | null;
  if (typeof value !== 'object' || value === null) throw new Error('stored pricing policy is not an object');
  return validatePricingPolicy({
    discountsByOrgType: value.discountsByOrgType ?? KOREAN_VOUCHER_POLICY.discountsByOrgType,
    subsidyBasisPoints: subsidyRatesFrom(value.subsidyBasisPoints ?? {}),
    vat: value.vat ?? KOREAN_VOUCHER_POLICY.vat,
    rounding: value.rounding ?? KOREAN_VOUCHER_POLICY.rounding,
  });
}

/**
 * The policy a program prices with now: its `program_pricing` row (or KOREAN_VOUCHER_POLICY) with the
 * program's own subsidy rates.
 */
export function effectivePolicy(stored: unknown, subsidyRatesJson: unknown): PricingPolicy {
  const base = stored === null || stored === undefined ? KOREAN_VOUCHER_POLICY : policyFromJson(stored);
  return withSubsidyRates(base, subsidyRatesFrom(subsidyRatesJson));
}

export interface ProgramPricingFacts {
  programId: string;
  code: string;
  name: string;
  agencyCode: string;
  policy: PricingPolicy;
  /** False when the program has no `program_pricing` row (the default policy applies). */
  customized: boolean;
}

/** Programs with the policy each prices with now. */
export async function programPricing(
  manager: EntityManager,
  programIds: readonly string[],
): Promise<Map<string, ProgramPricingFacts>> {
  const result = new Map<string, ProgramPricingFacts>();
  if (programIds.length === 0) return result;
  const rows = await manager.query<
    {
      id: string;
      code: string;
      name: string;
      agency_code: string;
      subsidy_rates: unknown;
      policy: unknown;
    }[]
  >(
    `SELECT p.id, p.code, p.name, p.agency_code, p.subsidy_rates, pp.policy
       FROM programs p LEFT JOIN program_pricing pp ON pp.program_id = p.id
      WHERE p.id = ANY($1::uuid[])`,
    [[...programIds]],
  );
  for (const row of rows) {
    result.set(row.id, {
      programId: row.id,
      code: row.code,
      name: row.name,
      agencyCode: row.agency_code,
      policy: effectivePolicy(row.policy, row.subsidy_rates),
      customized: row.policy !== null,
    });
  }
  return result;
}

/** A program as billing sees it: its agency and its own subsidy rates (`programs.subsidy_rates`). */
export interface BillingProgram {
  id: string;
  agencyCode: string;
  subsidyRates: unknown;
}

/** A program's `program_pricing` row. */
export interface StoredProgramPricing {
  policy: unknown;
  updatedBy: string;
  updatedAt: Date;
}

export interface NewRateCard {
  gpuModel: string;
  krwPerGpuHour: bigint;
  effectiveFrom: Date;
  createdBy: string;
}

/** Rate cards and programs' pricing policies (SQL only; the rules are libs/domain's). */
export abstract class BillingPricingRepository {
  /** The program (null: none with this id); with `lock`, its row is held until `tx` ends. */
  abstract program(programId: string, options?: { tx?: Tx; lock?: boolean }): Promise<BillingProgram | null>;
  abstract storedPolicy(programId: string, tx?: Tx): Promise<StoredProgramPricing | null>;
  abstract savePolicy(
    tx: Tx,
    change: { programId: string; policy: StoredPricingPolicy; updatedBy: string; updatedAt: Date },
  ): Promise<void>;
  /**
   * Waits for a close in progress (the close holds the lock exclusively while it marks its period
   * closing and snapshots the cards), so what `latestFixedPeriod` reads next includes that period.
   */
  abstract waitForCloseInProgress(tx: Tx): Promise<void>;
  /** The newest period closing or closed (its prices are fixed), or null. */
  abstract latestFixedPeriod(tx: Tx): Promise<string | null>;
  /** Inserts the card; null when a card of the model already takes effect at that instant. */
  abstract insertRateCard(tx: Tx, card: NewRateCard): Promise<RateCardEntity | null>;
  abstract rateCardsPage(filter: { gpuModel?: string }, page: PageQuery): Promise<Page<RateCardEntity>>;
}

@Injectable()
export class TypeormBillingPricingRepository extends BillingPricingRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async program(
    programId: string,
    options: { tx?: Tx; lock?: boolean } = {},
  ): Promise<BillingProgram | null> {
    const manager = options.tx ?? this.dataSource.manager;
    const [row] = await manager.query<{ id: string; agency_code: string; subsidy_rates: unknown }[]>(
      `SELECT id, agency_code, subsidy_rates FROM programs WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
      [programId],
    );
    return row ? { id: row.id, agencyCode: row.agency_code, subsidyRates: row.subsidy_rates } : null;
  }

  override async storedPolicy(programId: string, tx?: Tx): Promise<StoredProgramPricing | null> {
    const stored = await (tx ?? this.dataSource.manager)
      .getRepository(ProgramPricingEntity)
      .findOne({ where: { programId } });
    return stored
      ? { policy: stored.policy, updatedBy: stored.updatedBy, updatedAt: stored.updatedAt }
      : null;
  }

  override async savePolicy(
    tx: Tx,
    change: { programId: string; policy: StoredPricingPolicy; updatedBy: string; updatedAt: Date },
  ): Promise<void> {
    await tx.getRepository(ProgramPricingEntity).upsert(change, ['programId']);
  }

  override async waitForCloseInProgress(tx: Tx): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock_shared(hashtext($1))', [CLOSE_LOCK_KEY]);
  }

  override async latestFixedPeriod(tx: Tx): Promise<string | null> {
    const [fixed] = await tx.query<{ period: string }[]>(
      `SELECT period FROM billing_periods WHERE status IN ('closing', 'closed') ORDER BY period DESC LIMIT 1`,
    );
    return fixed?.period ?? null;
  }

  override async insertRateCard(tx: Tx, card: NewRateCard): Promise<RateCardEntity | null> {
    try {
      return await tx.getRepository(RateCardEntity).save({ ...card });
    } catch (error) {
      if (isUniqueViolation(error, 'uq_rate_cards_model_effective_from')) return null;
      throw error;
    }
  }

  override rateCardsPage(filter: { gpuModel?: string }, page: PageQuery): Promise<Page<RateCardEntity>> {
    const builder = this.dataSource.getRepository(RateCardEntity).createQueryBuilder('c');
    if (filter.gpuModel !== undefined)
      builder.andWhere('c.gpu_model = :gpuModel', { gpuModel: filter.gpuModel });
    return keysetPage(builder, page, (card) => card);
  }
}
