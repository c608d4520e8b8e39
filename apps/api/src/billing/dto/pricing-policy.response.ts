import { z } from 'zod';
import { ORGANIZATION_TYPES, type PricingPolicy } from '#domain';
import { pricingPolicyRequest } from './pricing-policy.request.js';

export const pricingPolicyResponse = z.object({
  programId: z.uuid(),
  /** False: the program has no policy of its own and prices with the Korean voucher default. */
  customized: z.boolean(),
  /** The policy the program prices with now, its subsidy rates (basis points) included. */
  policy: pricingPolicyRequest.extend({
    subsidyBasisPoints: z.partialRecord(z.enum(ORGANIZATION_TYPES), z.int()),
  }),
  updatedBy: z.uuid().nullable(),
  updatedAt: z.iso.datetime().nullable(),
});
export type PricingPolicyResponse = z.infer<typeof pricingPolicyResponse>;

export function pricingPolicyView(
  programId: string,
  policy: PricingPolicy,
  stored: { updatedBy: string; updatedAt: Date } | null,
): PricingPolicyResponse {
  const subsidyBasisPoints: Partial<Record<(typeof ORGANIZATION_TYPES)[number], number>> = {};
  for (const type of ORGANIZATION_TYPES) {
    const rate = policy.subsidyBasisPoints[type];
    if (rate !== undefined) subsidyBasisPoints[type] = rate;
  }
  return {
    programId,
    customized: stored !== null,
    policy: {
      discountsByOrgType: {
        university: [...policy.discountsByOrgType.university],
        research_institute: [...policy.discountsByOrgType.research_institute],
        public: [...policy.discountsByOrgType.public],
        startup: [...policy.discountsByOrgType.startup],
        youth_startup: [...policy.discountsByOrgType.youth_startup],
        sme: [...policy.discountsByOrgType.sme],
        enterprise: [...policy.discountsByOrgType.enterprise],
      },
      subsidyBasisPoints,
      vat: { ...policy.vat },
      rounding: { ...policy.rounding },
    },
    updatedBy: stored?.updatedBy ?? null,
    updatedAt: stored?.updatedAt.toISOString() ?? null,
  };
}
