import fc from 'fast-check';
import { ORGANIZATION_TYPES, type OrganizationType } from '../organizations/organization-type.js';
import { ROUNDING_RULES, formatKrw, type RoundingRule } from './money.js';
import {
  KOREAN_VOUCHER_POLICY,
  VAT_BASES,
  VAT_PAYERS,
  isFreeFor,
  negateAmounts,
  priceLine,
  pricingPolicyProblems,
  validatePricingPolicy,
  withSubsidyRates,
  type PricedAmounts,
  type PricingPolicy,
} from './pricing.js';

const HOUR = 3600n;
const H100_KRW_PER_HOUR = 3000n;

/** The amounts only, for comparing with toEqual. */
function amountsOf(line: PricedAmounts): PricedAmounts {
  const { gpuSeconds, listValue, discount, supplyPrice, subsidy, coPay, vat } = line;
  const { vatFromOrganization, vatFromProgram, totalDueFromOrganization, totalFromProgram, total } = line;
  return {
    gpuSeconds,
    listValue,
    discount,
    supplyPrice,
    subsidy,
    coPay,
    vat,
    vatFromOrganization,
    vatFromProgram,
    totalDueFromOrganization,
    totalFromProgram,
    total,
  };
}

describe('the worked example (Korean voucher practice)', () => {
  // 600 GPU-hours of H100 at 3,000원 = 1,800,000원 supply price for a startup (no discount).
  const line = priceLine({
    gpuSeconds: 600n * HOUR,
    krwPerGpuHour: H100_KRW_PER_HOUR,
    orgType: 'startup',
    policy: KOREAN_VOUCHER_POLICY,
  });

  it('supply 1,800,000 → subsidy 1,260,000, co-pay 540,000, VAT 180,000 by the company, 720,000 due', () => {
    expect(line.supplyPrice).toBe(1_800_000n);
    expect(line.subsidy).toBe(1_260_000n);
    expect(line.coPay).toBe(540_000n);
    expect(line.vat).toBe(180_000n);
    expect(line.vatPaidBy).toBe('organization');
    expect(line.totalDueFromOrganization).toBe(720_000n);
    expect(formatKrw(line.totalDueFromOrganization)).toBe('720,000원');
  });

  it('has the program pay the subsidy only and the whole adding up to supply + VAT', () => {
    expect(amountsOf(line)).toEqual({
      gpuSeconds: 2_160_000n,
      listValue: 1_800_000n,
      discount: 0n,
      supplyPrice: 1_800_000n,
      subsidy: 1_260_000n,
      coPay: 540_000n,
      vat: 180_000n,
      vatFromOrganization: 180_000n,
      vatFromProgram: 0n,
      totalDueFromOrganization: 720_000n,
      totalFromProgram: 1_260_000n,
      total: 1_980_000n,
    });
  });
});

describe('pricing by organization type', () => {
  const price = (orgType: OrganizationType, gpuSeconds: bigint) =>
    priceLine({ gpuSeconds, krwPerGpuHour: 2500n, orgType, policy: KOREAN_VOUCHER_POLICY });

  it('gives an SME 30% off, then the voucher split', () => {
    // 800 h × 2,500원 = 2,000,000 list; 30% off → 1,400,000 supply.
    expect(amountsOf(price('sme', 800n * HOUR))).toMatchObject({
      listValue: 2_000_000n,
      discount: 600_000n,
      supplyPrice: 1_400_000n,
      subsidy: 980_000n,
      coPay: 420_000n,
      vat: 140_000n,
      totalDueFromOrganization: 560_000n,
      totalFromProgram: 980_000n,
    });
  });

  it('gives a youth startup the SME 30% and a further 50% (65% off in all)', () => {
    // 2,000,000 → 1,400,000 after 30% → 700,000 after a further 50%.
    expect(amountsOf(price('youth_startup', 800n * HOUR))).toEqual({
      gpuSeconds: 800n * HOUR,
      listValue: 2_000_000n,
      discount: 1_300_000n,
      supplyPrice: 700_000n,
      subsidy: 490_000n,
      coPay: 210_000n,
      vat: 70_000n,
      vatFromOrganization: 70_000n,
      vatFromProgram: 0n,
      totalDueFromOrganization: 280_000n,
      totalFromProgram: 490_000n,
      total: 770_000n,
    });
  });

  it.each(['university', 'research_institute'] as const)(
    'lets a %s use the pool free, showing the list value',
    (type) => {
      const line = price(type, 800n * HOUR);
      expect(isFreeFor(KOREAN_VOUCHER_POLICY, type)).toBe(true);
      expect(amountsOf(line)).toEqual({
        gpuSeconds: 800n * HOUR,
        listValue: 2_000_000n,
        discount: 2_000_000n,
        supplyPrice: 0n,
        subsidy: 0n,
        coPay: 0n,
        vat: 0n,
        vatFromOrganization: 0n,
        vatFromProgram: 0n,
        totalDueFromOrganization: 0n,
        totalFromProgram: 0n,
        total: 0n,
      });
    },
  );

  it('charges an enterprise list price with no subsidy', () => {
    expect(amountsOf(price('enterprise', 800n * HOUR))).toMatchObject({
      supplyPrice: 2_000_000n,
      subsidy: 0n,
      coPay: 2_000_000n,
      vat: 200_000n,
      totalDueFromOrganization: 2_200_000n,
    });
    expect(isFreeFor(KOREAN_VOUCHER_POLICY, 'enterprise')).toBe(false);
  });
});

describe('rounding', () => {
  const withRounding = (rule: RoundingRule): PricingPolicy => ({
    ...KOREAN_VOUCHER_POLICY,
    rounding: { listValue: rule, discount: rule, subsidy: rule, vat: rule },
  });

  it('rounds the list value once per line from the exact price per second', () => {
    // 7 s at 1,000원/h = 1.944…원; 1 s at 3,000원/h = 0.833…원
    const list = (gpuSeconds: bigint, krwPerGpuHour: bigint, rule: RoundingRule) =>
      priceLine({ gpuSeconds, krwPerGpuHour, orgType: 'enterprise', policy: withRounding(rule) }).listValue;
    expect([list(7n, 1000n, 'floor'), list(7n, 1000n, 'half_up'), list(7n, 1000n, 'ceil')]).toEqual([
      1n,
      2n,
      2n,
    ]);
    expect([list(1n, 3000n, 'floor'), list(1n, 3000n, 'half_up'), list(1n, 3000n, 'ceil')]).toEqual([
      0n,
      1n,
      1n,
    ]);
    // Rounded once: 3,600 single seconds priced together are exactly one hour's price, not 3,600 × 0.
    expect(list(3600n, 3000n, 'floor')).toBe(3000n);
  });

  it('truncates the subsidy and VAT by default (원 미만 절사), the co-pay absorbing the remainder', () => {
    // 1 h at 1,234,567원: subsidy 70% = 864,196.9 → 864,196; VAT 10% = 123,456.7 → 123,456.
    const line = priceLine({
      gpuSeconds: HOUR,
      krwPerGpuHour: 1_234_567n,
      orgType: 'startup',
      policy: KOREAN_VOUCHER_POLICY,
    });
    expect([line.subsidy, line.coPay, line.vat]).toEqual([864_196n, 370_371n, 123_456n]);
    const halfUp = priceLine({
      gpuSeconds: HOUR,
      krwPerGpuHour: 1_234_567n,
      orgType: 'startup',
      policy: withRounding('half_up'),
    });
    expect([halfUp.subsidy, halfUp.coPay, halfUp.vat]).toEqual([864_197n, 370_370n, 123_457n]);
  });

  it('rounds each successive discount on what the previous left', () => {
    // list 999: 30% = 299.7 → 299 (floor) leaves 700; 50% of 700 = 350.
    const line = priceLine({
      gpuSeconds: HOUR,
      krwPerGpuHour: 999n,
      orgType: 'youth_startup',
      policy: KOREAN_VOUCHER_POLICY,
    });
    expect([line.discount, line.supplyPrice]).toEqual([649n, 350n]);
    const ceil = priceLine({
      gpuSeconds: HOUR,
      krwPerGpuHour: 999n,
      orgType: 'youth_startup',
      policy: withRounding('ceil'),
    });
    // 30% = 299.7 → 300 leaves 699; 50% = 349.5 → 350 leaves 349.
    expect([ceil.discount, ceil.supplyPrice]).toEqual([650n, 349n]);
  });
});

describe('VAT settings', () => {
  const base = { gpuSeconds: 600n * HOUR, krwPerGpuHour: H100_KRW_PER_HOUR, orgType: 'startup' as const };
  const vat = (payer: PricingPolicy['vat']['payer'], vatBase: PricingPolicy['vat']['base']) =>
    priceLine({
      ...base,
      policy: { ...KOREAN_VOUCHER_POLICY, vat: { rateBasisPoints: 1000, payer, base: vatBase } },
    });

  it('program pays all the VAT', () => {
    expect(amountsOf(vat('program', 'supply_price'))).toMatchObject({
      vat: 180_000n,
      vatFromOrganization: 0n,
      vatFromProgram: 180_000n,
      totalDueFromOrganization: 540_000n,
      totalFromProgram: 1_440_000n,
    });
  });

  it('split: the organization pays the VAT on its co-pay, the program the rest', () => {
    expect(amountsOf(vat('split', 'supply_price'))).toMatchObject({
      vat: 180_000n,
      vatFromOrganization: 54_000n,
      vatFromProgram: 126_000n,
      totalDueFromOrganization: 594_000n,
      totalFromProgram: 1_386_000n,
    });
  });

  it('on the co-pay only', () => {
    const line = vat('organization', 'co_pay');
    expect([line.vat, line.totalDueFromOrganization, line.total]).toEqual([54_000n, 594_000n, 1_854_000n]);
    expect(vat('split', 'co_pay').vatFromProgram).toBe(0n);
  });
});

describe('credits', () => {
  it('price negative GPU-seconds as the exact negation of the charge', () => {
    const input = { krwPerGpuHour: 2999n, orgType: 'youth_startup' as const, policy: KOREAN_VOUCHER_POLICY };
    const charge = priceLine({ ...input, gpuSeconds: 12_345n });
    const credit = priceLine({ ...input, gpuSeconds: -12_345n });
    expect(amountsOf(credit)).toEqual(negateAmounts(amountsOf(charge)));
  });

  it('refuse a negative price', () => {
    expect(() =>
      priceLine({ gpuSeconds: 1n, krwPerGpuHour: -1n, orgType: 'sme', policy: KOREAN_VOUCHER_POLICY }),
    ).toThrow(expect.objectContaining({ kind: 'invalid', code: 'INVALID_PRICE' }));
  });
});

const basisPoints = fc.integer({ min: 0, max: 10_000 });
const rule = fc.constantFrom<RoundingRule>(...ROUNDING_RULES);
const policyArbitrary: fc.Arbitrary<PricingPolicy> = fc.record({
  discountsByOrgType: fc.record(
    Object.fromEntries(
      ORGANIZATION_TYPES.map((type) => [type, fc.array(basisPoints, { maxLength: 3 })]),
    ) as Record<OrganizationType, fc.Arbitrary<number[]>>,
  ),
  subsidyBasisPoints: fc.record(
    Object.fromEntries(ORGANIZATION_TYPES.map((type) => [type, basisPoints])) as Record<
      OrganizationType,
      fc.Arbitrary<number>
    >,
    { requiredKeys: [] },
  ),
  vat: fc.record({
    rateBasisPoints: basisPoints,
    payer: fc.constantFrom(...VAT_PAYERS),
    base: fc.constantFrom(...VAT_BASES),
  }),
  rounding: fc.record({ listValue: rule, discount: rule, subsidy: rule, vat: rule }),
});

describe('invariants of any line under any valid policy', () => {
  const inputs = fc.record({
    gpuSeconds: fc.bigInt({ min: 0n, max: 10n ** 15n }),
    krwPerGpuHour: fc.bigInt({ min: 0n, max: 10n ** 8n }),
    orgType: fc.constantFrom(...ORGANIZATION_TYPES),
    policy: policyArbitrary,
  });

  it('add up, are never negative, and are deterministic', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        expect(pricingPolicyProblems(input.policy)).toEqual([]);
        const line = priceLine(input);
        expect(line.gpuSeconds).toBe(input.gpuSeconds);
        expect(line.listValue - line.discount).toBe(line.supplyPrice);
        expect(line.subsidy + line.coPay).toBe(line.supplyPrice);
        expect(line.vatFromOrganization + line.vatFromProgram).toBe(line.vat);
        expect(line.coPay + line.vatFromOrganization).toBe(line.totalDueFromOrganization);
        expect(line.subsidy + line.vatFromProgram).toBe(line.totalFromProgram);
        expect(line.totalDueFromOrganization + line.totalFromProgram).toBe(line.supplyPrice + line.vat);
        expect(line.total).toBe(line.supplyPrice + line.vat);
        for (const value of Object.values(amountsOf(line))) expect(value >= 0n).toBe(true);
        expect(priceLine(input)).toEqual(line);
      }),
    );
  });

  it('list value is the exact gpuSeconds × price ÷ 3600 within one won, shown even when free', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const line = priceLine(input);
        const exactTimes3600 = input.gpuSeconds * input.krwPerGpuHour;
        const error = line.listValue * HOUR - exactTimes3600;
        expect(error > -HOUR && error < HOUR).toBe(true);
        if (isFreeFor(input.policy, input.orgType)) {
          expect(line.discount).toBe(line.listValue);
          expect(line.total).toBe(0n);
        }
      }),
    );
  });
});

describe('policies', () => {
  it('the voucher default is valid and frozen', () => {
    expect(validatePricingPolicy(KOREAN_VOUCHER_POLICY)).toBe(KOREAN_VOUCHER_POLICY);
    expect(Object.isFrozen(KOREAN_VOUCHER_POLICY.discountsByOrgType.sme)).toBe(true);
    expect(KOREAN_VOUCHER_POLICY.discountsByOrgType.youth_startup).toEqual([3000, 5000]);
  });

  it('takes a program its own subsidy rates', () => {
    const policy = withSubsidyRates(KOREAN_VOUCHER_POLICY, { startup: 5000 });
    expect(policy.subsidyBasisPoints).toEqual({ startup: 5000 });
    const line = priceLine({ gpuSeconds: 600n * HOUR, krwPerGpuHour: 3000n, orgType: 'startup', policy });
    expect([line.subsidy, line.coPay]).toEqual([900_000n, 900_000n]);
    // An organization type without a rate gets no subsidy.
    expect(priceLine({ gpuSeconds: HOUR, krwPerGpuHour: 3000n, orgType: 'sme', policy }).subsidy).toBe(0n);
  });

  it('lists every problem of a bad policy', () => {
    const bad = {
      ...KOREAN_VOUCHER_POLICY,
      discountsByOrgType: { ...KOREAN_VOUCHER_POLICY.discountsByOrgType, sme: [10_001], startup: [0.5] },
      subsidyBasisPoints: { sme: -1 },
      vat: { rateBasisPoints: 1000.5, payer: 'nobody', base: 'gross' },
      rounding: { ...KOREAN_VOUCHER_POLICY.rounding, vat: 'bankers' },
    } as unknown as PricingPolicy;
    expect(pricingPolicyProblems(bad).map((problem) => problem.rule)).toEqual([
      'DISCOUNT_RATE_INVALID',
      'DISCOUNT_RATE_INVALID',
      'SUBSIDY_RATE_INVALID',
      'VAT_RATE_INVALID',
      'VAT_PAYER_INVALID',
      'VAT_BASE_INVALID',
      'ROUNDING_RULE_INVALID',
    ]);
    expect(() => validatePricingPolicy(bad)).toThrow(
      expect.objectContaining({ kind: 'invalid', code: 'INVALID_PRICING_POLICY' }),
    );
    const missing = {
      ...KOREAN_VOUCHER_POLICY,
      discountsByOrgType: { university: [10_000] },
    } as unknown as PricingPolicy;
    expect(
      pricingPolicyProblems(missing).filter((problem) => problem.rule === 'DISCOUNT_MISSING'),
    ).toHaveLength(6);
  });
});
