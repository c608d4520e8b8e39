/**
 * Subsidy rates arrive as decimals (0.7 = 70%) and are stored as integer basis points (7000), the
 * unit libs/domain prices with. The conversion reads the decimal's shortest round-trip spelling
 * (what the client wrote in JSON) instead of multiplying a double, so 0.29 is 2900, never 2899.
 */
const DECIMAL_RATE = /^(0|1)(?:\.(\d{1,4}))?$/;

/** Basis points of a decimal rate between 0 and 1 with at most 4 decimal places, or null when it is not one. */
export function decimalToBasisPoints(rate: number): number | null {
  if (!Number.isFinite(rate)) return null;
  const match = DECIMAL_RATE.exec(String(rate));
  if (!match) return null;
  const whole = match[1] === '1' ? 10_000 : 0;
  const fraction = Number.parseInt((match[2] ?? '').padEnd(4, '0'), 10);
  if (whole === 10_000 && fraction !== 0) return null;
  return whole + fraction;
}

/** 7000 → 0.7: the decimal spelled from the digits, so it round-trips exactly through decimalToBasisPoints. */
export function basisPointsToDecimal(basisPoints: number): number {
  const whole = Math.trunc(basisPoints / 10_000);
  const fraction = String(basisPoints % 10_000).padStart(4, '0');
  return Number(`${whole}.${fraction}`);
}
