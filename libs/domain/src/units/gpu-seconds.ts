import { invalid } from '../errors/domain-error.js';

/**
 * Compute is counted in integer GPU-seconds held in `bigint`; GPU-hours exist only for people.
 * Nothing here converts an amount to `number`: 50,000 GPUs for a year is 1.6e12 GPU-seconds and
 * sums of such amounts leave the exact range of a double long before a ledger gets old.
 */
export const SECONDS_PER_HOUR = 3600n;

/** GPU-hours are shown with at most this many fractional digits (1 GPU-second = 0.000277 h). */
export const GPU_HOURS_FRACTION_DIGITS = 6;

const FRACTION_SCALE = 10n ** BigInt(GPU_HOURS_FRACTION_DIGITS);
const STRICT_INTEGER = /^-?\d+$/;

export function gpuHoursToSeconds(hours: bigint): bigint {
  return hours * SECONDS_PER_HOUR;
}

/**
 * Exact decimal GPU-hours: truncated toward zero to 6 fractional digits, trailing zeros trimmed.
 * 3600n → "1", 1800n → "0.5", 1n → "0.000277", -8100n → "-2.25". Never "-0".
 */
export function formatGpuHours(seconds: bigint): string {
  const negative = seconds < 0n;
  const magnitude = negative ? -seconds : seconds;
  // Truncating the magnitude is truncating toward zero.
  const scaled = (magnitude * FRACTION_SCALE) / SECONDS_PER_HOUR;
  const whole = scaled / FRACTION_SCALE;
  const fraction = scaled % FRACTION_SCALE;
  let text = whole.toString();
  if (fraction !== 0n) {
    const digits = fraction.toString().padStart(GPU_HOURS_FRACTION_DIGITS, '0').replace(/0+$/, '');
    text = `${text}.${digits}`;
  }
  return negative && scaled !== 0n ? `-${text}` : text;
}

/** Like formatGpuHours with thousands separators in the whole part, for sentences: "1,200.5". */
export function formatGpuHoursForPeople(seconds: bigint): string {
  return groupThousands(formatGpuHours(seconds));
}

/** "-1234567.25" → "-1,234,567.25". Works on decimal strings so it never goes through a float. */
export function groupThousands(decimal: string): string {
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(decimal);
  if (match === null) {
    throw new TypeError(`groupThousands expects a decimal string, got "${decimal}"`);
  }
  const [, sign = '', whole = '', fraction = ''] = match;
  return `${sign}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${fraction}`;
}

/** How an amount travels in JSON, which cannot carry bigint. */
export interface GpuAmount {
  /** Exact integer GPU-seconds as a decimal string, e.g. "5400". */
  gpuSeconds: string;
  /** formatGpuHours of the same amount, e.g. "1.5". */
  gpuHours: string;
}

export function toAmount(seconds: bigint): GpuAmount {
  return { gpuSeconds: seconds.toString(), gpuHours: formatGpuHours(seconds) };
}

/**
 * Parses a decimal integer written with ASCII digits and an optional leading minus, nothing else:
 * no whitespace, "+", exponent, fraction, hex or empty string (all of which `BigInt()` partly accepts).
 */
export function parseBigIntStrict(text: string): bigint {
  if (!STRICT_INTEGER.test(text)) {
    throw invalid(
      'INVALID_INTEGER',
      `Expected a whole number written with digits only, such as "3600" or "-5", but got "${text}".`,
      { value: text },
    );
  }
  return BigInt(text);
}
