import { BASIS_POINTS_MAX } from '../programs/program.js';
import { groupThousands } from '../units/gpu-seconds.js';

/**
 * Money is whole Korean won in `bigint`: the won has no minor unit, and sums over tens of millions of
 * usage records must stay exact, so no amount ever passes through a `number`.
 */
export type Krw = bigint;

/**
 * The named ways an amount is rounded to the won, each written once here:
 *   floor   절사   drop the fraction (the usual Korean "원 미만 절사")
 *   half_up 사사오입 round to nearest, halves away from zero
 *   ceil    절상   any fraction counts as a whole won
 * Every rule works on the magnitude and puts the sign back (sign-symmetric), so rounding −x gives
 * exactly −(rounding x): a credit that reverses a charge cancels it to the won. For the non-negative
 * amounts of a statement they are the familiar floor, round-half-up and ceiling.
 */
export const ROUNDING_RULES = ['floor', 'half_up', 'ceil'] as const;
export type RoundingRule = (typeof ROUNDING_RULES)[number];

/** The Korean accounting name of each rule, for statements and settings screens. */
export const ROUNDING_RULE_LABELS: Readonly<Record<RoundingRule, string>> = {
  floor: '절사',
  half_up: '사사오입',
  ceil: '절상',
};

const BASIS_POINTS_DENOMINATOR = BigInt(BASIS_POINTS_MAX);

/** Narrows untrusted input (a setting, a request body) to a rule name. */
export function isRoundingRule(value: unknown): value is RoundingRule {
  return typeof value === 'string' && (ROUNDING_RULES as readonly string[]).includes(value);
}

/** The magnitude of the quotient, rounded by `rule`; both arguments are non-negative, den > 0. */
function roundMagnitude(numerator: bigint, denominator: bigint, rule: RoundingRule): bigint {
  const quotient = numerator / denominator;
  const remainder = numerator % denominator;
  switch (rule) {
    case 'floor':
      return quotient;
    case 'ceil':
      return remainder === 0n ? quotient : quotient + 1n;
    case 'half_up':
      return 2n * remainder >= denominator ? quotient + 1n : quotient;
  }
}

/** numerator ÷ denominator rounded to an integer by a named rule, exactly (no float anywhere). */
export function divideRound(numerator: bigint, denominator: bigint, rule: RoundingRule): bigint {
  if (denominator === 0n) throw new RangeError('divideRound: the denominator must not be zero');
  const negative = numerator < 0n !== denominator < 0n;
  const magnitude = roundMagnitude(
    numerator < 0n ? -numerator : numerator,
    denominator < 0n ? -denominator : denominator,
    rule,
  );
  return negative ? -magnitude : magnitude;
}

/** Throws RangeError unless `basisPoints` is a whole number ≥ 0 (a policy bug, not user input). */
function basisPointsOf(basisPoints: number): bigint {
  if (!Number.isSafeInteger(basisPoints) || basisPoints < 0) {
    throw new RangeError(`Basis points must be a whole number of at least 0, got ${basisPoints}`);
  }
  return BigInt(basisPoints);
}

/** amount × bp / 10000 rounded by `rule`: 7000 bp of 1,800,000 is 1,260,000. 10000 bp is `amount` itself. */
export function applyBasisPoints(amount: Krw, basisPoints: number, rule: RoundingRule): Krw {
  return divideRound(amount * basisPointsOf(basisPoints), BASIS_POINTS_DENOMINATOR, rule);
}

/**
 * Splits `amount` into a rounded basis-point share and the rest, so the two always add up to `amount`
 * exactly: the rounding remainder lands in `rest` (e.g. the co-pay absorbs what the subsidy rounds off).
 */
export function splitByBasisPoints(
  amount: Krw,
  basisPoints: number,
  rule: RoundingRule,
): { share: Krw; rest: Krw } {
  const share = applyBasisPoints(amount, basisPoints, rule);
  return { share, rest: amount - share };
}

/** Sum of amounts; 0 for none. */
export function sumKrw(amounts: Iterable<Krw>): Krw {
  let total = 0n;
  for (const amount of amounts) total += amount;
  return total;
}

/**
 * "1,800,000원" — the form Korean statements and tax invoices print (rather than "₩1,800,000"), with a
 * leading minus for credits: "-540,000원".
 */
export function formatKrw(amount: Krw): string {
  return `${groupThousands(amount.toString())}원`;
}
