import fc from 'fast-check';
import {
  USAGE_THRESHOLDS_PERCENT,
  alertKey,
  burnRateAlert,
  burnRateAlertKey,
  burnRateMessage,
  crossedThresholds,
  projectExhaustion,
  thresholdAlert,
  thresholdAlertKey,
  thresholdGpuSeconds,
  thresholdMessage,
  type AlertSubject,
  type BurnRateInput,
} from './alerts.js';

const HOUR = 3600n;
const DAY = 86_400;
const at = (iso: string): Date => new Date(iso);
const subject: AlertSubject = { allocationId: 'a1', gpuModel: 'H100' };
const windowEnd = at('2026-07-31T15:00:00Z');

describe('crossedThresholds', () => {
  it('are 50, 80 and 100 percent', () => {
    expect(USAGE_THRESHOLDS_PERCENT).toEqual([50, 80, 100]);
  });

  it('rounds a threshold up to the next whole GPU-second', () => {
    expect(thresholdGpuSeconds(3n, 50)).toBe(2n);
    expect(thresholdGpuSeconds(1000n, 80)).toBe(800n);
    expect(thresholdGpuSeconds(1001n, 80)).toBe(801n);
  });

  it.each<[bigint, bigint, bigint, number[]]>([
    [1000n, 0n, 499n, []],
    [1000n, 0n, 500n, [50]],
    [1000n, 499n, 500n, [50]],
    [1000n, 500n, 799n, []],
    [1000n, 500n, 800n, [80]],
    [1000n, 0n, 1000n, [50, 80, 100]],
    [1000n, 999n, 5000n, [100]],
    [1000n, 1000n, 5000n, []],
    [1000n, 900n, 100n, []],
    [0n, 0n, 10n, []],
    [3n, 1n, 2n, [50]],
  ])('granted %p, used %p → %p crosses %p', (granted, before, after, crossed) => {
    expect(crossedThresholds(granted, before, after)).toEqual(crossed);
  });

  it('matches used × 100 against granted × p, exactly, for any amounts', () => {
    const amount = fc.bigInt({ min: 0n, max: 10n ** 18n });
    fc.assert(
      fc.property(amount, amount, amount, (granted, before, after) => {
        const expected =
          granted === 0n
            ? []
            : USAGE_THRESHOLDS_PERCENT.filter((p) => {
                const target = granted * BigInt(p);
                return before * 100n < target && target <= after * 100n;
              });
        expect(crossedThresholds(granted, before, after)).toEqual(expected);
      }),
    );
  });
});

describe('alert keys', () => {
  it('name kind, allocation and detail', () => {
    expect(alertKey('a1', 'usage_threshold', 80)).toBe('usage_threshold:a1:80');
    expect(thresholdAlertKey('a1', 100)).toBe('usage_threshold:a1:100');
  });

  it('give one burn-rate alert per allocation per Seoul day', () => {
    expect(burnRateAlertKey('a1', at('2026-05-01T14:59:59Z'))).toBe('burn_rate:a1:2026-05-01');
    expect(burnRateAlertKey('a1', at('2026-05-01T15:00:00Z'))).toBe('burn_rate:a1:2026-05-02');
  });
});

describe('threshold messages', () => {
  it('say how much is used and left, and what to do', () => {
    expect(thresholdMessage(subject, 80, 1000n * HOUR, 812n * HOUR + 1800n, windowEnd)).toBe(
      'Allocation a1 (H100) has used 80% of its grant: 812.5 GPU-hours of 1,000 GPU-hours, ' +
        '187.5 GPU-hours left until the window ends 2026-08-01 00:00 KST. ' +
        'Plan your remaining runs to fit, or ask the program for more before it runs out.',
    );
  });

  it('at 100% say that new workloads wait, with the overdraft', () => {
    const message = thresholdMessage(
      { ...subject, projectName: 'Protein folding' },
      100,
      1000n * HOUR,
      1020n * HOUR,
      windowEnd,
    );
    expect(message).toContain(
      "Protein folding's H100 allocation (a1) has used all of its 1,000 GPU-hours (1,020 GPU-hours used, 20 GPU-hours over).",
    );
    expect(message).toContain('new ones will not be admitted');
    expect(message).toContain('ask the program for an extension or apply for a new allocation');
  });

  it('send one alert for the highest threshold a change crosses', () => {
    expect(thresholdAlert(subject, 1000n, 100n, 1000n, windowEnd)).toMatchObject({
      key: 'usage_threshold:a1:100',
      kind: 'usage_threshold',
      message: expect.stringContaining('has used all of its'),
    });
    expect(thresholdAlert(subject, 1000n, 100n, 600n, windowEnd)?.key).toBe('usage_threshold:a1:50');
    expect(thresholdAlert(subject, 1000n, 600n, 700n, windowEnd)).toBeNull();
  });
});

function makeBurn(overrides: Partial<BurnRateInput> = {}): BurnRateInput {
  return {
    granted: 1000n * HOUR,
    consumed: 400n * HOUR,
    held: 100n * HOUR,
    windowStart: at('2026-04-30T15:00:00Z'),
    windowEnd,
    now: at('2026-06-01T00:00:00Z'),
    // 8 GPUs busy around the clock for the last day
    recentConsumed: 8n * BigInt(DAY),
    recentWindowSeconds: DAY,
    ...overrides,
  };
}

describe('projectExhaustion', () => {
  it('divides what is left, holds excluded, by the recent pace', () => {
    // 500 GPU-hours left at 8 GPUs → 62.5 hours
    expect(projectExhaustion(makeBurn())).toEqual({
      exhaustsAt: at('2026-06-03T14:30:00Z'),
      beforeWindowEnd: true,
      ratePerSecond: '8',
    });
  });

  it('rounds the time left up to a whole second and shows the rate exactly', () => {
    const projection = projectExhaustion(
      makeBurn({ granted: 500n * HOUR + 1n, recentConsumed: 3n, recentWindowSeconds: 7 }),
    );
    // 1 GPU-second left at 3/7 per second → ⌈7/3⌉ = 3 s
    expect(projection.exhaustsAt).toEqual(at('2026-06-01T00:00:03Z'));
    expect(projection.ratePerSecond).toBe('0.428571');
  });

  it('is now when nothing is left to admit against', () => {
    expect(projectExhaustion(makeBurn({ consumed: 900n * HOUR }))).toMatchObject({
      exhaustsAt: at('2026-06-01T00:00:00Z'),
      beforeWindowEnd: true,
    });
  });

  it('is null with no recent usage', () => {
    expect(projectExhaustion(makeBurn({ recentConsumed: 0n }))).toEqual({
      exhaustsAt: null,
      beforeWindowEnd: false,
      ratePerSecond: '0',
    });
  });

  it('is after the window end for a slow pace', () => {
    const projection = projectExhaustion(makeBurn({ recentConsumed: BigInt(DAY) / 10n }));
    expect(projection.ratePerSecond).toBe('0.1');
    expect(projection.beforeWindowEnd).toBe(false);
    expect(projection.exhaustsAt?.getTime()).toBeGreaterThan(windowEnd.getTime());
  });

  it('measures a new allocation over the time since it started', () => {
    const projection = projectExhaustion(
      makeBurn({
        windowStart: at('2026-05-31T23:00:00Z'),
        consumed: 8n * HOUR,
        held: 0n,
        recentConsumed: 8n * HOUR,
      }),
    );
    expect(projection.ratePerSecond).toBe('8');
    // 992 GPU-hours left at 8 GPUs → 124 hours
    expect(projection.exhaustsAt).toEqual(at('2026-06-06T04:00:00Z'));
  });

  it('is null when the projection would outlast the calendar', () => {
    expect(projectExhaustion(makeBurn({ granted: 10n ** 30n, recentConsumed: 1n })).exhaustsAt).toBeNull();
  });

  it('refuses a look-back that is not a positive whole number of seconds', () => {
    expect(() => projectExhaustion(makeBurn({ recentWindowSeconds: 0 }))).toThrow(TypeError);
    expect(() => projectExhaustion(makeBurn({ recentWindowSeconds: 1.5 }))).toThrow(TypeError);
  });

  it('lands on the first whole second at which the pace has used up what is left', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 7n }),
        fc.integer({ min: 1, max: 30 * DAY }),
        (remaining, recentConsumed, recentWindowSeconds) => {
          const input = makeBurn({
            windowStart: at('2020-01-01T00:00:00Z'),
            granted: remaining,
            consumed: 0n,
            held: 0n,
            recentConsumed,
            recentWindowSeconds,
          });
          const { exhaustsAt } = projectExhaustion(input);
          const window = BigInt(recentWindowSeconds);
          if (exhaustsAt === null) {
            // only when even the shortest sufficient time lies past the last instant a Date can hold
            const secondsToCalendarEnd = (8_640_000_000_000_000n - BigInt(input.now.getTime())) / 1000n;
            expect(recentConsumed * secondsToCalendarEnd < remaining * window).toBe(true);
            return;
          }
          const seconds = BigInt((exhaustsAt.getTime() - input.now.getTime()) / 1000);
          // rate × seconds ≥ remaining, and one second less would not be enough
          expect(recentConsumed * seconds >= remaining * window).toBe(true);
          expect(recentConsumed * (seconds - 1n) < remaining * window).toBe(true);
        },
      ),
    );
  });
});

describe('burn-rate alert', () => {
  it('warns with the pace, the date and what to do', () => {
    const input = makeBurn();
    const exhaustsAt = projectExhaustion(input).exhaustsAt ?? at('1970-01-01T00:00:00Z');
    expect(burnRateMessage({ ...subject, projectName: 'Protein folding' }, input, exhaustsAt)).toBe(
      "At the pace of the last day (about 8 GPUs busy), Protein folding's H100 allocation (a1) will run out " +
        'around 2026-06-03 23:30 KST, before its window ends 2026-08-01 00:00 KST: 500 GPU-hours of ' +
        '1,000 GPU-hours are left that running workloads do not already hold. ' +
        'Pace your runs, or ask the program for more GPU-hours before then.',
    );
  });

  it('is keyed per Seoul day and sent only when the projection is before the window end', () => {
    expect(burnRateAlert(subject, makeBurn())).toMatchObject({
      key: 'burn_rate:a1:2026-06-01',
      kind: 'burn_rate',
    });
    expect(burnRateAlert(subject, makeBurn({ recentConsumed: 1n }))).toBeNull();
    expect(burnRateAlert(subject, makeBurn({ recentConsumed: 0n }))).toBeNull();
  });

  it('leaves a fully consumed grant to the 100% threshold alert', () => {
    expect(burnRateAlert(subject, makeBurn({ consumed: 1000n * HOUR, held: 0n }))).toBeNull();
  });
});
