import { z } from 'zod';
import { ROUNDING_RULES, VAT_BASES, VAT_PAYERS } from '#domain';

const basisPoints = z
  .number()
  .multipleOf(1, { message: 'must be whole basis points (30% = 3000)' })
  .min(0)
  .max(10_000);

/** Successive discounts (each on what the previous left): [3000, 5000] is 30% then a further 50%. */
const discounts = z.array(basisPoints).max(5);

/**
 * A program's pricing policy (libs/domain PricingPolicy) without subsidies: the subsidy rates are the
 * program's own `subsidyRates`, set when it is created.
 */
export const pricingPolicyRequest = z.strictObject({
  discountsByOrgType: z.strictObject({
    university: discounts,
    research_institute: discounts,
    public: discounts,
    startup: discounts,
    youth_startup: discounts,
    sme: discounts,
    enterprise: discounts,
  }),
  vat: z.strictObject({
    rateBasisPoints: basisPoints,
    /** organization (voucher practice), program, or split (the organization pays the VAT on its co-pay). */
    payer: z.enum(VAT_PAYERS),
    /** supply_price (공급가액, the tax-invoice base) or co_pay. */
    base: z.enum(VAT_BASES),
  }),
  rounding: z.strictObject({
    listValue: z.enum(ROUNDING_RULES),
    discount: z.enum(ROUNDING_RULES),
    subsidy: z.enum(ROUNDING_RULES),
    vat: z.enum(ROUNDING_RULES),
  }),
});
export type PricingPolicyRequest = z.infer<typeof pricingPolicyRequest>;
