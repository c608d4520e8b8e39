import fc from 'fast-check';
import {
  ROUNDING_RULES,
  ROUNDING_RULE_LABELS,
  applyBasisPoints,
  divideRound,
  formatKrw,
  isRoundingRule,
  splitByBasisPoints,
  sumKrw,
  type RoundingRule,
} from './money.js';

const rule = fc.constantFrom<RoundingRule>(...ROUNDING_RULES);
const nonNegative = fc.bigInt({ min: 0n, max: 2n ** 96n });
const positive = fc.bigInt({ min: 1n, max: 2n ** 64n });
const basisPoints = fc.integer({ min: 0, max: 10_000 });

describe('rounding rules', () => {
  it('are named, with their Korean accounting terms', () => {
    expect(ROUNDING_RULES).toEqual(['floor', 'half_up', 'ceil']);
    expect(ROUNDING_RULE_LABELS).toEqual({ floor: '절사', half_up: '사사오입', ceil: '절상' });
    expect(isRoundingRule('half_up')).toBe(true);
    expect(isRoundingRule('round')).toBe(false);
    expect(isRoundingRule(1)).toBe(false);
  });
});

describe('divideRound', () => {
  it.each([
    // numerator, denominator, floor, half_up, ceil
    [7n, 2n, 3n, 4n, 4n],
    [5n, 2n, 2n, 3n, 3n],
    [1n, 3n, 0n, 0n, 1n],
    [2n, 3n, 0n, 1n, 1n],
    [6n, 3n, 2n, 2n, 2n],
    [0n, 7n, 0n, 0n, 0n],
    [14_999n, 10_000n, 1n, 1n, 2n],
    [15_000n, 10_000n, 1n, 2n, 2n],
    [-7n, 2n, -3n, -4n, -4n],
    [7n, -2n, -3n, -4n, -4n],
    [-7n, -2n, 3n, 4n, 4n],
  ])('%p / %p → floor %p, half_up %p, ceil %p', (numerator, denominator, floor, halfUp, ceil) => {
    expect(divideRound(numerator, denominator, 'floor')).toBe(floor);
    expect(divideRound(numerator, denominator, 'half_up')).toBe(halfUp);
    expect(divideRound(numerator, denominator, 'ceil')).toBe(ceil);
  });

  it('refuses a zero denominator', () => {
    expect(() => divideRound(1n, 0n, 'floor')).toThrow(RangeError);
  });

  it('is exact far beyond the range of a double', () => {
    const huge = 2n ** 200n + 1n;
    expect(divideRound(huge, 2n, 'floor')).toBe(2n ** 199n);
    expect(divideRound(huge, 2n, 'half_up')).toBe(2n ** 199n + 1n);
    expect(divideRound(huge, 2n, 'ceil')).toBe(2n ** 199n + 1n);
  });

  it('floor ≤ exact ≤ ceil, at most one apart, equal exactly when it divides', () => {
    fc.assert(
      fc.property(nonNegative, positive, (numerator, denominator) => {
        const floor = divideRound(numerator, denominator, 'floor');
        const ceil = divideRound(numerator, denominator, 'ceil');
        expect(floor * denominator <= numerator).toBe(true);
        expect(numerator <= ceil * denominator).toBe(true);
        expect(ceil - floor).toBe(numerator % denominator === 0n ? 0n : 1n);
      }),
    );
  });

  it('half_up is within half a unit of the exact quotient, and is floor or ceil', () => {
    fc.assert(
      fc.property(nonNegative, positive, (numerator, denominator) => {
        const halfUp = divideRound(numerator, denominator, 'half_up');
        const error = halfUp * denominator - numerator;
        // |halfUp − n/d| ≤ ½, and exactly ½ only rounds up.
        expect(2n * (error < 0n ? -error : error) <= denominator).toBe(true);
        if (2n * error === denominator) expect(halfUp).toBe(divideRound(numerator, denominator, 'ceil'));
        expect([
          divideRound(numerator, denominator, 'floor'),
          divideRound(numerator, denominator, 'ceil'),
        ]).toContain(halfUp);
      }),
    );
  });

  it('is sign-symmetric, so a credit cancels its charge to the won', () => {
    fc.assert(
      fc.property(nonNegative, positive, rule, (numerator, denominator, chosen) => {
        const charge = divideRound(numerator, denominator, chosen);
        expect(divideRound(-numerator, denominator, chosen)).toBe(-charge);
        expect(divideRound(numerator, -denominator, chosen)).toBe(-charge);
        expect(divideRound(-numerator, -denominator, chosen)).toBe(charge);
      }),
    );
  });

  it('is monotone in the numerator', () => {
    fc.assert(
      fc.property(nonNegative, nonNegative, positive, rule, (a, b, denominator, chosen) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(divideRound(low, denominator, chosen) <= divideRound(high, denominator, chosen)).toBe(true);
      }),
    );
  });
});

describe('applyBasisPoints', () => {
  it('takes 70% of the worked example supply price', () => {
    expect(applyBasisPoints(1_800_000n, 7000, 'floor')).toBe(1_260_000n);
    expect(applyBasisPoints(1_800_000n, 1000, 'floor')).toBe(180_000n);
  });

  it('rounds the share by the named rule', () => {
    // 10% of 1,234,567 = 123,456.7
    expect(applyBasisPoints(1_234_567n, 1000, 'floor')).toBe(123_456n);
    expect(applyBasisPoints(1_234_567n, 1000, 'half_up')).toBe(123_457n);
    expect(applyBasisPoints(1_234_567n, 1000, 'ceil')).toBe(123_457n);
    // 10% of 1,234,561 = 123,456.1
    expect(applyBasisPoints(1_234_561n, 1000, 'half_up')).toBe(123_456n);
    expect(applyBasisPoints(1_234_561n, 1000, 'ceil')).toBe(123_457n);
  });

  it('gives the whole amount at 10000 bp and nothing at 0 bp, whatever the rule', () => {
    fc.assert(
      fc.property(nonNegative, rule, (amount, chosen) => {
        expect(applyBasisPoints(amount, 10_000, chosen)).toBe(amount);
        expect(applyBasisPoints(amount, 0, chosen)).toBe(0n);
      }),
    );
  });

  it.each([-1, 0.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1])('refuses %p basis points', (bp) => {
    expect(() => applyBasisPoints(100n, bp, 'floor')).toThrow(RangeError);
  });
});

describe('splitting an amount', () => {
  it('share + rest = amount exactly, for every rule and rate', () => {
    fc.assert(
      fc.property(nonNegative, basisPoints, rule, (amount, bp, chosen) => {
        const { share, rest } = splitByBasisPoints(amount, bp, chosen);
        expect(share + rest).toBe(amount);
        expect(share >= 0n && rest >= 0n).toBe(true);
      }),
    );
  });

  it('floor of one share and ceil of the other add up, which two half_up shares need not', () => {
    fc.assert(
      fc.property(nonNegative, basisPoints, (amount, bp) => {
        expect(applyBasisPoints(amount, bp, 'floor') + applyBasisPoints(amount, 10_000 - bp, 'ceil')).toBe(
          amount,
        );
      }),
    );
    // 5 won split 50/50: each half_up share is 3, together 6. That is why the rest is taken, not rounded.
    expect(applyBasisPoints(5n, 5000, 'half_up') * 2n).toBe(6n);
    expect(splitByBasisPoints(5n, 5000, 'half_up')).toEqual({ share: 3n, rest: 2n });
  });

  it('sums amounts exactly', () => {
    expect(sumKrw([])).toBe(0n);
    expect(sumKrw([2n ** 70n, 1n, -1n])).toBe(2n ** 70n);
  });
});

describe('formatKrw', () => {
  it.each([
    [0n, '0원'],
    [999n, '999원'],
    [1000n, '1,000원'],
    [1_800_000n, '1,800,000원'],
    [-540_000n, '-540,000원'],
    [12_345_678_901_234_567_890n, '12,345,678,901,234,567,890원'],
  ])('%p → %p', (amount, text) => {
    expect(formatKrw(amount)).toBe(text);
  });
});
