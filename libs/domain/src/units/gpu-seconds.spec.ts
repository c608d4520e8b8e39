import fc from 'fast-check';
import { DomainError } from '../errors/domain-error.js';
import {
  SECONDS_PER_HOUR,
  formatGpuHours,
  formatGpuHoursForPeople,
  gpuHoursToSeconds,
  groupThousands,
  parseBigIntStrict,
  toAmount,
} from './gpu-seconds.js';

describe('gpuHoursToSeconds', () => {
  it('multiplies by 3600', () => {
    expect(SECONDS_PER_HOUR).toBe(3600n);
    expect(gpuHoursToSeconds(2n)).toBe(7200n);
    expect(gpuHoursToSeconds(-3n)).toBe(-10800n);
  });
});

describe('formatGpuHours', () => {
  it.each([
    [0n, '0'],
    [3600n, '1'],
    [1800n, '0.5'],
    [1n, '0.000277'],
    [2n, '0.000555'],
    [900n, '0.25'],
    [-8100n, '-2.25'],
    [-1n, '-0.000277'],
    [4320000n, '1200'],
    [3601n, '1.000277'],
  ])('%p s → %p h', (seconds, hours) => {
    expect(formatGpuHours(seconds)).toBe(hours);
  });

  it('round-trips any whole number of hours, far beyond Number.MAX_SAFE_INTEGER', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 120n), max: 2n ** 120n }), (hours) => {
        expect(formatGpuHours(gpuHoursToSeconds(hours))).toBe(hours.toString());
      }),
    );
  });

  it('is the exact quotient truncated toward zero to 6 digits, for any seconds', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }), (seconds) => {
        const text = formatGpuHours(seconds);
        expect(text).toMatch(/^-?\d+(\.\d{0,5}[1-9])?$/);
        const negative = text.startsWith('-');
        const [whole = '', fraction = ''] = text.replace('-', '').split('.');
        const microHours = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
        const magnitude = seconds < 0n ? -seconds : seconds;
        // microHours = ⌊magnitude·10⁶ / 3600⌋  ⇔  microHours·3600 ≤ magnitude·10⁶ < (microHours+1)·3600
        expect(microHours * 3600n <= magnitude * 1_000_000n).toBe(true);
        expect(magnitude * 1_000_000n < (microHours + 1n) * 3600n).toBe(true);
        expect(negative).toBe(seconds < 0n && microHours !== 0n);
      }),
    );
  });
});

describe('formatGpuHoursForPeople / groupThousands', () => {
  it('groups the whole part only', () => {
    expect(formatGpuHoursForPeople(gpuHoursToSeconds(1200n))).toBe('1,200');
    expect(formatGpuHoursForPeople(gpuHoursToSeconds(-1234567n) - 900n)).toBe('-1,234,567.25');
    expect(groupThousands('999')).toBe('999');
    expect(groupThousands('1000.123456')).toBe('1,000.123456');
  });
});

describe('toAmount', () => {
  it('carries exact seconds as a string and the hours view', () => {
    expect(toAmount(5400n)).toEqual({ gpuSeconds: '5400', gpuHours: '1.5' });
    expect(JSON.stringify(toAmount(2n ** 70n))).toBe(
      `{"gpuSeconds":"${(2n ** 70n).toString()}","gpuHours":"${formatGpuHours(2n ** 70n)}"}`,
    );
  });
});

describe('parseBigIntStrict', () => {
  it.each(['0', '3600', '-5', '123456789012345678901234567890'])('accepts %p', (text) => {
    expect(parseBigIntStrict(text).toString()).toBe(BigInt(text).toString());
  });

  it.each(['', ' 1', '1 ', '+1', '1.0', '1e3', '0x10', '--1', '1_000', '١٢'])(
    'rejects %p as INVALID_INTEGER',
    (text) => {
      expect(() => parseBigIntStrict(text)).toThrow(DomainError);
      expect(() => parseBigIntStrict(text)).toThrow(
        expect.objectContaining({ kind: 'invalid', code: 'INVALID_INTEGER' }),
      );
    },
  );

  it('inverts toString for any bigint', () => {
    fc.assert(fc.property(fc.bigInt(), (value) => parseBigIntStrict(value.toString()) === value));
  });
});
