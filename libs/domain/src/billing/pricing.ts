import { invalid } from '../errors/domain-error.js';
import { summarizeViolations, type RuleViolation } from '../errors/rule-violation.js';
import { ORGANIZATION_TYPES, type OrganizationType } from '../organizations/organization-type.js';
import { BASIS_POINTS_MAX } from '../programs/program.js';
import { SECONDS_PER_HOUR } from '../units/gpu-seconds.js';
import { applyBasisPoints, divideRound, isRoundingRule, type Krw, type RoundingRule } from './money.js';

export const VAT_PAYERS = ['organization', 'program', 'split'] as const;
/**
 * Who pays the VAT: all of it the organization (voucher practice), all of it the program, or `split`:
 * the organization pays the VAT on its co-pay and the program the rest.
 */
export type VatPayer = (typeof VAT_PAYERS)[number];

export const VAT_BASES = ['supply_price', 'co_pay'] as const;
/** What VAT is computed on: the whole supply price (공급가액, the tax-invoice base) or the co-pay only. */
export type VatBase = (typeof VAT_BASES)[number];

/**
 * How a program prices usage. Set per program; KOREAN_VOUCHER_POLICY is the usual starting point.
 * Every rate is in basis points (1% = 100, 70% = 7000) so policies never hold a float.
 */
export interface PricingPolicy {
  /**
   * Successive discounts off the list value, each applied to what the previous ones left: youth
   * startups get the SME 30% and then a further 50%, i.e. [3000, 5000] (they pay 35% of list, a
   * combined 65% off). 10000 anywhere in the list makes the type free. An empty list is no discount.
   */
  discountsByOrgType: Readonly<Record<OrganizationType, readonly number[]>>;
  /** Share of the supply price (after discounts) the program pays, per type (ProgramRules.subsidyRates). Missing = 0. */
  subsidyBasisPoints: Readonly<Partial<Record<OrganizationType, number>>>;
  vat: { rateBasisPoints: number; payer: VatPayer; base: VatBase };
  rounding: {
    /** gpuSeconds × price per hour ÷ 3600, rounded once per line. */
    listValue: RoundingRule;
    /** Each successive discount amount. */
    discount: RoundingRule;
    /** The subsidy; the co-pay is the exact rest, so it absorbs the remainder. */
    subsidy: RoundingRule;
    vat: RoundingRule;
  };
}

/**
 * Korean voucher practice: universities and research institutes free (value still shown), SMEs 30%
 * off, youth startups 30% then a further 50% off; the program pays 70% of the supply price of
 * companies and the company 30% plus all the VAT (10% of the supply price). Every amount is
 * truncated to the won (원 미만 절사), which never charges anyone a won more than the rates give.
 */
export const KOREAN_VOUCHER_POLICY: PricingPolicy = Object.freeze({
  discountsByOrgType: Object.freeze({
    university: Object.freeze([BASIS_POINTS_MAX]),
    research_institute: Object.freeze([BASIS_POINTS_MAX]),
    public: Object.freeze([]),
    startup: Object.freeze([]),
    youth_startup: Object.freeze([3000, 5000]),
    sme: Object.freeze([3000]),
    enterprise: Object.freeze([]),
  }),
  subsidyBasisPoints: Object.freeze({ startup: 7000, youth_startup: 7000, sme: 7000 }),
  vat: Object.freeze({
    rateBasisPoints: 1000,
    payer: 'organization' as const,
    base: 'supply_price' as const,
  }),
  rounding: Object.freeze({
    listValue: 'floor' as const,
    discount: 'floor' as const,
    subsidy: 'floor' as const,
    vat: 'floor' as const,
  }),
});

/** The policy with the program's own subsidy rates (ProgramRules.subsidyRates) in place of the policy's. */
export function withSubsidyRates(
  policy: PricingPolicy,
  subsidyRates: Readonly<Partial<Record<OrganizationType, number>>>,
): PricingPolicy {
  return { ...policy, subsidyBasisPoints: { ...subsidyRates } };
}

function isBasisPoints(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= BASIS_POINTS_MAX;
}

function discountProblems(policy: PricingPolicy): RuleViolation[] {
  return ORGANIZATION_TYPES.flatMap((type) => {
    // Policies arrive from JSON settings, so a type may be missing whatever the static type says.
    const given: unknown = policy.discountsByOrgType[type];
    if (!Array.isArray(given)) {
      return [
        {
          rule: 'DISCOUNT_MISSING',
          field: `discountsByOrgType.${type}`,
          message: `Give ${type} its discounts ([] for none).`,
        },
      ];
    }
    const steps: readonly unknown[] = given;
    return steps
      .map((bp, index) => ({ bp, index }))
      .filter(({ bp }) => !isBasisPoints(bp))
      .map(({ bp, index }) => ({
        rule: 'DISCOUNT_RATE_INVALID',
        field: `discountsByOrgType.${type}[${index}]`,
        message: `Discount ${index + 1} for ${type} must be whole basis points from 0 to 10000 (30% = 3000), got ${String(bp)}.`,
      }));
  });
}

function subsidyProblems(policy: PricingPolicy): RuleViolation[] {
  return Object.entries(policy.subsidyBasisPoints)
    .filter(([, bp]) => !isBasisPoints(bp))
    .map(([type, bp]) => ({
      rule: 'SUBSIDY_RATE_INVALID',
      field: `subsidyBasisPoints.${type}`,
      message: `Subsidy for ${type} must be whole basis points from 0 to 10000 (70% = 7000), got ${String(bp)}.`,
    }));
}

function vatAndRoundingProblems(policy: PricingPolicy): RuleViolation[] {
  const problems: RuleViolation[] = [];
  if (!isBasisPoints(policy.vat.rateBasisPoints)) {
    problems.push({
      rule: 'VAT_RATE_INVALID',
      field: 'vat.rateBasisPoints',
      message: `VAT must be whole basis points from 0 to 10000 (10% = 1000), got ${String(policy.vat.rateBasisPoints)}.`,
    });
  }
  if (!(VAT_PAYERS as readonly string[]).includes(policy.vat.payer)) {
    problems.push({
      rule: 'VAT_PAYER_INVALID',
      field: 'vat.payer',
      message: `VAT payer must be one of ${VAT_PAYERS.join(', ')}, got "${String(policy.vat.payer)}".`,
    });
  }
  if (!(VAT_BASES as readonly string[]).includes(policy.vat.base)) {
    problems.push({
      rule: 'VAT_BASE_INVALID',
      field: 'vat.base',
      message: `VAT base must be one of ${VAT_BASES.join(', ')}, got "${String(policy.vat.base)}".`,
    });
  }
  for (const [amount, rule] of Object.entries(policy.rounding)) {
    if (!isRoundingRule(rule)) {
      problems.push({
        rule: 'ROUNDING_RULE_INVALID',
        field: `rounding.${amount}`,
        message: `Rounding of ${amount} must be floor, half_up or ceil, got "${String(rule)}".`,
      });
    }
  }
  return problems;
}

/** Every problem with a pricing policy; empty when usable. */
export function pricingPolicyProblems(policy: PricingPolicy): RuleViolation[] {
  return [...discountProblems(policy), ...subsidyProblems(policy), ...vatAndRoundingProblems(policy)];
}

/** Returns the policy unchanged when usable; otherwise throws INVALID_PRICING_POLICY listing every problem. */
export function validatePricingPolicy(policy: PricingPolicy): PricingPolicy {
  const problems = pricingPolicyProblems(policy);
  if (problems.length > 0) {
    throw invalid(
      'INVALID_PRICING_POLICY',
      `The pricing policy has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${summarizeViolations(problems)}`,
      { problems },
    );
  }
  return policy;
}

/** True when the organization type pays nothing (some discount step is 100%); its list value is still shown. */
export function isFreeFor(policy: PricingPolicy, orgType: OrganizationType): boolean {
  return policy.discountsByOrgType[orgType].includes(BASIS_POINTS_MAX);
}

/** The amounts of a line or a statement, all exact; statements add these field by field. */
export interface PricedAmounts {
  gpuSeconds: bigint;
  /** Value at list price (정가), shown even when free. */
  listValue: Krw;
  discount: Krw;
  /** 공급가액 = listValue − discount. */
  supplyPrice: Krw;
  /** 보조금: paid by the program. */
  subsidy: Krw;
  /** 자부담 = supplyPrice − subsidy: paid by the organization. */
  coPay: Krw;
  /** 부가세. */
  vat: Krw;
  vatFromOrganization: Krw;
  vatFromProgram: Krw;
  /** coPay + vatFromOrganization. */
  totalDueFromOrganization: Krw;
  /** subsidy + vatFromProgram. */
  totalFromProgram: Krw;
  /** 합계금액 = supplyPrice + vat = totalDueFromOrganization + totalFromProgram. */
  total: Krw;
}

export interface PricedLine extends PricedAmounts {
  krwPerGpuHour: Krw;
  orgType: OrganizationType;
  vatPaidBy: VatPayer;
}

export interface PriceLineInput {
  /** Metered GPU-seconds of the line; negative for a credit, which is priced as the exact negation. */
  gpuSeconds: bigint;
  krwPerGpuHour: Krw;
  orgType: OrganizationType;
  policy: PricingPolicy;
}

/** List value less each successive discount (each on what the previous left), rounded per step. */
function supplyAfterDiscounts(listValue: Krw, steps: readonly number[], rule: RoundingRule): Krw {
  let remaining = listValue;
  for (const basisPoints of steps) remaining -= applyBasisPoints(remaining, basisPoints, rule);
  return remaining;
}

/** VAT and who pays it, per the policy's base and payer. */
function vatShares(policy: PricingPolicy, supplyPrice: Krw, coPay: Krw): { vat: Krw; fromOrganization: Krw } {
  const { rateBasisPoints, payer, base } = policy.vat;
  const rule = policy.rounding.vat;
  const vat = applyBasisPoints(base === 'supply_price' ? supplyPrice : coPay, rateBasisPoints, rule);
  switch (payer) {
    case 'organization':
      return { vat, fromOrganization: vat };
    case 'program':
      return { vat, fromOrganization: 0n };
    case 'split':
      // Rounding is monotone and coPay ≤ supplyPrice, so this never exceeds the whole VAT.
      return { vat, fromOrganization: applyBasisPoints(coPay, rateBasisPoints, rule) };
  }
}

/** Prices a non-negative amount of usage. */
function priceMagnitude(input: PriceLineInput, gpuSeconds: bigint): PricedAmounts {
  const { policy, orgType } = input;
  const listValue = divideRound(
    gpuSeconds * input.krwPerGpuHour,
    SECONDS_PER_HOUR,
    policy.rounding.listValue,
  );
  const supplyPrice = supplyAfterDiscounts(
    listValue,
    policy.discountsByOrgType[orgType],
    policy.rounding.discount,
  );
  const subsidy = applyBasisPoints(
    supplyPrice,
    policy.subsidyBasisPoints[orgType] ?? 0,
    policy.rounding.subsidy,
  );
  const coPay = supplyPrice - subsidy;
  const { vat, fromOrganization } = vatShares(policy, supplyPrice, coPay);
  const vatFromProgram = vat - fromOrganization;
  return {
    gpuSeconds,
    listValue,
    discount: listValue - supplyPrice,
    supplyPrice,
    subsidy,
    coPay,
    vat,
    vatFromOrganization: fromOrganization,
    vatFromProgram,
    totalDueFromOrganization: coPay + fromOrganization,
    totalFromProgram: subsidy + vatFromProgram,
    total: supplyPrice + vat,
  };
}

/** Every amount negated: a credit mirrors the charge it reverses, to the won. */
export function negateAmounts(amounts: PricedAmounts): PricedAmounts {
  const negated = { ...amounts };
  for (const key of Object.keys(negated) as (keyof PricedAmounts)[]) negated[key] = -negated[key];
  return negated;
}

/**
 * Prices one statement line: list value = gpuSeconds × krwPerGpuHour ÷ 3600 (the exact rational
 * price per second) rounded ONCE per line by rounding.listValue; then successive discounts → supply
 * price; subsidy share of the supply price; co-pay the exact rest; VAT on the policy's base.
 * Throws INVALID_PRICE when the price is negative.
 */
export function priceLine(input: PriceLineInput): PricedLine {
  if (input.krwPerGpuHour < 0n) {
    throw invalid(
      'INVALID_PRICE',
      `A price per GPU-hour cannot be negative, got ${input.krwPerGpuHour.toString()}.`,
    );
  }
  const magnitude = priceMagnitude(input, input.gpuSeconds < 0n ? -input.gpuSeconds : input.gpuSeconds);
  const amounts = input.gpuSeconds < 0n ? negateAmounts(magnitude) : magnitude;
  return {
    ...amounts,
    krwPerGpuHour: input.krwPerGpuHour,
    orgType: input.orgType,
    vatPaidBy: input.policy.vat.payer,
  };
}
