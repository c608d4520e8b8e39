import fc from 'fast-check';
import { DomainError } from '../errors/domain-error.js';
import {
  describeRateCard,
  priceSegments,
  rateAt,
  rateCardProblems,
  validateRateCards,
  type RateCard,
} from './rate-card.js';

const at = (iso: string): Date => new Date(iso);
const card = (gpuModel: string, krwPerGpuHour: bigint, effectiveFrom: string): RateCard => ({
  gpuModel,
  krwPerGpuHour,
  effectiveFrom: at(effectiveFrom),
});

// Seoul midnights: 2026-04-01 and 2026-05-15 KST.
const APRIL = card('H100', 3000n, '2026-03-31T15:00:00Z');
const MID_MAY = card('H100', 2500n, '2026-05-14T15:00:00Z');
const H200 = card('H200', 4000n, '2026-01-01T00:00:00Z');
const CARDS = [MID_MAY, H200, APRIL];

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error: unknown) {
    return error;
  }
  return undefined;
}

describe('validateRateCards', () => {
  it('accepts cards of different models at the same instant', () => {
    const cards = [card('H100', 3000n, '2026-01-01T00:00:00Z'), card('H200', 4000n, '2026-01-01T00:00:00Z')];
    expect(validateRateCards(cards)).toBe(cards);
  });

  it('lists every problem at once', () => {
    const problems = rateCardProblems([
      card('', 3000n, '2026-01-01T00:00:00Z'),
      card('H100', 0n, '2026-01-01T00:00:00Z'),
      card('H100', -5n, 'not a date'),
      card('H100', 3000n, '2026-01-01T00:00:00.500Z'),
      card('B200', 5000n, '2026-02-01T00:00:00Z'),
      card('B200', 5100n, '2026-02-01T00:00:00Z'),
    ]);
    expect(problems.map((problem) => problem.rule)).toEqual([
      'GPU_MODEL_EMPTY',
      'RATE_NOT_POSITIVE',
      'RATE_NOT_POSITIVE',
      'RATE_CARD_DATE_INVALID',
      'RATE_CARD_NOT_WHOLE_SECOND',
      'DUPLICATE_RATE_CARD',
    ]);
    expect(problems.at(-1)).toMatchObject({ field: 'rateCards[5]' });
    expect(problems.at(-1)?.message).toContain('Two B200 rate cards take effect at 2026-02-01 09:00 KST');
  });

  it('throws INVALID_RATE_CARDS (invalid) with the problems', () => {
    expect(thrown(() => validateRateCards([card('H100', 0n, '2026-01-01T00:00:00Z')]))).toMatchObject({
      kind: 'invalid',
      code: 'INVALID_RATE_CARDS',
      details: { problems: [expect.objectContaining({ rule: 'RATE_NOT_POSITIVE' })] },
    });
  });
});

describe('rateAt', () => {
  it('takes the latest card of the model in effect, in any input order', () => {
    expect(rateAt(CARDS, 'H100', at('2026-04-01T00:00:00Z'))).toBe(APRIL);
    expect(rateAt(CARDS, 'H100', at('2026-05-14T14:59:59.999Z'))).toBe(APRIL);
    expect(rateAt(CARDS, 'H100', at('2026-05-14T15:00:00Z'))).toBe(MID_MAY);
    expect(rateAt(CARDS, 'H200', at('2026-05-14T15:00:00Z'))).toBe(H200);
  });

  it('throws NO_RATE_CARD naming the model and the instant', () => {
    const error = thrown(() => rateAt(CARDS, 'H100', at('2026-03-31T14:59:59Z')));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({
      kind: 'rule_violated',
      code: 'NO_RATE_CARD',
      details: { gpuModel: 'H100', at: '2026-03-31T14:59:59.000Z' },
    });
    expect((error as DomainError).message).toContain(
      'No H100 rate card is in effect at 2026-03-31 23:59 KST',
    );
    expect(thrown(() => rateAt(CARDS, 'B200', at('2026-05-01T00:00:00Z')))).toMatchObject({
      code: 'NO_RATE_CARD',
      details: { gpuModel: 'B200' },
    });
  });

  it('describes a card for people', () => {
    expect(describeRateCard(APRIL)).toBe('H100 3,000원/GPU-hour from 2026-04-01 00:00 KST');
  });
});

describe('priceSegments', () => {
  it('gives one segment when the price does not change', () => {
    expect(priceSegments(CARDS, 'H100', at('2026-04-05T00:00:00Z'), at('2026-04-06T00:00:00Z'))).toEqual([
      {
        startsAt: at('2026-04-05T00:00:00Z'),
        endsAt: at('2026-04-06T00:00:00Z'),
        krwPerGpuHour: 3000n,
        rateEffectiveFrom: APRIL.effectiveFrom,
      },
    ]);
  });

  it('splits at a price change mid-period', () => {
    const may = { from: at('2026-04-30T15:00:00Z'), to: at('2026-05-31T15:00:00Z') };
    expect(priceSegments(CARDS, 'H100', may.from, may.to)).toEqual([
      {
        startsAt: may.from,
        endsAt: MID_MAY.effectiveFrom,
        krwPerGpuHour: 3000n,
        rateEffectiveFrom: APRIL.effectiveFrom,
      },
      {
        startsAt: MID_MAY.effectiveFrom,
        endsAt: may.to,
        krwPerGpuHour: 2500n,
        rateEffectiveFrom: MID_MAY.effectiveFrom,
      },
    ]);
  });

  it('does not split at a change exactly on either end', () => {
    expect(priceSegments(CARDS, 'H100', MID_MAY.effectiveFrom, at('2026-05-20T00:00:00Z'))).toHaveLength(1);
    expect(priceSegments(CARDS, 'H100', at('2026-05-10T00:00:00Z'), MID_MAY.effectiveFrom)).toEqual([
      expect.objectContaining({ krwPerGpuHour: 3000n, endsAt: MID_MAY.effectiveFrom }),
    ]);
  });

  it('throws NO_RATE_CARD when the start has no price, even if a later card exists', () => {
    expect(
      thrown(() => priceSegments(CARDS, 'H100', at('2026-03-01T00:00:00Z'), at('2026-05-01T00:00:00Z'))),
    ).toMatchObject({
      code: 'NO_RATE_CARD',
    });
  });

  it('refuses an empty or reversed interval', () => {
    const instant = at('2026-05-01T00:00:00Z');
    expect(thrown(() => priceSegments(CARDS, 'H100', instant, instant))).toMatchObject({
      kind: 'invalid',
      code: 'END_NOT_AFTER_START',
    });
  });

  it('covers [from, to) with contiguous segments priced by the card in effect at each start', () => {
    const base = at('2026-01-01T00:00:00Z').getTime();
    const day = 86_400_000;
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 120 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 130 * day }),
        fc.integer({ min: 1, max: 40 * day }),
        (changeDays, fromOffset, length) => {
          const cards = [card('H100', 1000n, '2026-01-01T00:00:00Z')].concat(
            changeDays.map((d, index) => ({
              gpuModel: 'H100',
              krwPerGpuHour: BigInt(2000 + index),
              effectiveFrom: new Date(base + d * day),
            })),
          );
          const from = new Date(base + fromOffset);
          const to = new Date(base + fromOffset + length);
          const segments = priceSegments(cards, 'H100', from, to);
          expect(segments[0]?.startsAt).toEqual(from);
          expect(segments.at(-1)?.endsAt).toEqual(to);
          segments.forEach((segment, index) => {
            expect(segment.endsAt.getTime()).toBeGreaterThan(segment.startsAt.getTime());
            if (index > 0) expect(segment.startsAt).toEqual(segments[index - 1]?.endsAt);
            const inEffect = rateAt(cards, 'H100', segment.startsAt);
            expect(segment.krwPerGpuHour).toBe(inEffect.krwPerGpuHour);
            expect(rateAt(cards, 'H100', new Date(segment.endsAt.getTime() - 1))).toBe(inEffect);
          });
        },
      ),
    );
  });
});
