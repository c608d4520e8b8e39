import fc from 'fast-check';
import { DomainError } from '../errors/domain-error.js';
import { windowContainsInstant } from '../units/time-window.js';
import {
  BILLING_PERIOD_ACTIONS,
  BILLING_PERIOD_STATES,
  assertPeriodOpen,
  canTransitionBillingPeriod,
  chargePeriodFor,
  comparePeriods,
  isBillingPeriod,
  isBillingPeriodFinal,
  nextPeriod,
  parsePeriod,
  periodBounds,
  periodOf,
  previousPeriod,
  transitionBillingPeriod,
  type BillingPeriodAction,
  type BillingPeriodState,
} from './billing-period.js';

const at = (iso: string): Date => new Date(iso);

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error: unknown) {
    return error;
  }
  return undefined;
}

describe('periods are Seoul calendar months', () => {
  it.each([
    ['2026-04-30T14:59:59.999Z', '2026-04'],
    ['2026-04-30T15:00:00.000Z', '2026-05'],
    ['2026-12-31T15:00:00.000Z', '2027-01'],
    ['2026-01-01T00:00:00.000Z', '2026-01'],
  ])('%s is in %s', (iso, period) => {
    expect(periodOf(at(iso))).toBe(period);
  });

  it('refuses an invalid instant', () => {
    expect(thrown(() => periodOf(new Date(Number.NaN)))).toMatchObject({ code: 'INVALID_TIMESTAMP' });
  });

  it.each([
    ['2026-05', '2026-04-30T15:00:00.000Z', '2026-05-31T15:00:00.000Z'],
    ['2026-12', '2026-11-30T15:00:00.000Z', '2026-12-31T15:00:00.000Z'],
    ['2028-02', '2028-01-31T15:00:00.000Z', '2028-02-29T15:00:00.000Z'],
    ['2026-01', '2025-12-31T15:00:00.000Z', '2026-01-31T15:00:00.000Z'],
  ])('%s runs from %s to %s (Seoul midnight of the 1st, UTC+9)', (period, start, end) => {
    const bounds = periodBounds(period);
    expect(bounds.startsAt.toISOString()).toBe(start);
    expect(bounds.endsAt.toISOString()).toBe(end);
  });

  it('steps across years', () => {
    expect(nextPeriod('2026-12')).toBe('2027-01');
    expect(nextPeriod('2026-05')).toBe('2026-06');
    expect(previousPeriod('2027-01')).toBe('2026-12');
    expect(comparePeriods('2026-12', '2027-01')).toBeLessThan(0);
    expect(comparePeriods('2027-01', '2027-01')).toBe(0);
    expect(['2027-01', '2026-10', '2026-09'].sort(comparePeriods)).toEqual(['2026-09', '2026-10', '2027-01']);
  });

  it('every instant lies in the bounds of its period, and periods tile time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8_000_000_000_000 }), (ms) => {
        const instant = new Date(ms);
        const period = periodOf(instant);
        const bounds = periodBounds(period);
        expect(windowContainsInstant(bounds, instant)).toBe(true);
        expect(periodBounds(nextPeriod(period)).startsAt).toEqual(bounds.endsAt);
        expect(previousPeriod(nextPeriod(period))).toBe(period);
        expect(periodOf(bounds.startsAt)).toBe(period);
        expect(periodOf(new Date(bounds.endsAt.getTime() - 1))).toBe(period);
      }),
    );
  });
});

describe('parsePeriod', () => {
  it.each(['2026-01', '2026-12', '1970-01', '9999-12'])('accepts %p', (text) => {
    expect(parsePeriod(text)).toBe(text);
    expect(isBillingPeriod(text)).toBe(true);
  });

  it.each([
    '2026-13',
    '26-01',
    '2026-00',
    '2026-1',
    '2026-5',
    '',
    ' 2026-01',
    '2026-01 ',
    '2026-01-01',
    '2026/01',
    '1969-12',
    '２０２６-01',
  ])('rejects %p as INVALID_BILLING_PERIOD', (text) => {
    const error = thrown(() => parsePeriod(text));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({
      kind: 'invalid',
      code: 'INVALID_BILLING_PERIOD',
      details: { value: text },
    });
    expect(isBillingPeriod(text)).toBe(false);
  });

  it('is what periodBounds and nextPeriod check too', () => {
    expect(thrown(() => periodBounds('2026-13'))).toMatchObject({ code: 'INVALID_BILLING_PERIOD' });
    expect(thrown(() => nextPeriod('26-01'))).toMatchObject({ code: 'INVALID_BILLING_PERIOD' });
    expect(isBillingPeriod(202601)).toBe(false);
    expect(thrown(() => nextPeriod('9999-12'))).toMatchObject({ code: 'INVALID_BILLING_PERIOD' });
    expect(thrown(() => previousPeriod('1970-01'))).toMatchObject({ code: 'INVALID_BILLING_PERIOD' });
  });
});

describe('billing period state machine', () => {
  const EDGES: readonly (readonly [BillingPeriodState, BillingPeriodAction, BillingPeriodState])[] = [
    ['open', 'start_closing', 'closing'],
    ['closing', 'close', 'closed'],
    ['closing', 'reopen', 'open'],
  ];

  it.each(EDGES)('%s --%s--> %s', (from, action, to) => {
    expect(transitionBillingPeriod(from, action)).toBe(to);
    expect(canTransitionBillingPeriod(from, action)).toBe(true);
  });

  it('refuses every other move with ILLEGAL_TRANSITION (conflict)', () => {
    for (const from of BILLING_PERIOD_STATES) {
      for (const action of BILLING_PERIOD_ACTIONS) {
        if (EDGES.some(([edgeFrom, edgeAction]) => edgeFrom === from && edgeAction === action)) continue;
        expect(canTransitionBillingPeriod(from, action)).toBe(false);
        expect(thrown(() => transitionBillingPeriod(from, action, '2026-04'))).toMatchObject({
          kind: 'conflict',
          code: 'ILLEGAL_TRANSITION',
          details: { from, action, period: '2026-04' },
        });
      }
    }
  });

  it('keeps a closed period closed for ever, and says why', () => {
    expect(isBillingPeriodFinal('closed')).toBe(true);
    expect(isBillingPeriodFinal('closing')).toBe(false);
    const error = thrown(() => transitionBillingPeriod('closed', 'reopen', '2026-04')) as DomainError;
    expect(error.message).toBe(
      'Cannot reopen billing period 2026-04 that is closed. A closed period never changes; late usage goes to the next open period as a correction.',
    );
  });

  it('lets only an open period take charges', () => {
    expect(() => assertPeriodOpen('2026-05', 'open')).not.toThrow();
    for (const state of ['closing', 'closed'] as const) {
      expect(thrown(() => assertPeriodOpen('2026-04', state))).toMatchObject({
        kind: 'conflict',
        code: 'BILLING_PERIOD_NOT_OPEN',
        details: { period: '2026-04', state },
      });
    }
  });
});

describe('chargePeriodFor', () => {
  it('charges usage in its own period while that is open', () => {
    expect(chargePeriodFor('2026-05', ['2026-04'], ['2026-05', '2026-06'])).toEqual({
      chargePeriod: '2026-05',
      chargeClass: null,
      correctsPeriod: null,
    });
  });

  it('lands late usage of a closed period in the earliest later open one, as a Correction naming it', () => {
    expect(chargePeriodFor('2026-03', ['2026-03', '2026-04'], ['2026-07', '2026-05', '2026-06'])).toEqual({
      chargePeriod: '2026-05',
      chargeClass: 'Correction',
      correctsPeriod: '2026-03',
    });
  });

  it('treats a closing period as not taking charges, whichever list also names it', () => {
    expect(chargePeriodFor('2026-04', ['2026-04'], ['2026-04', '2026-05'])).toMatchObject({
      chargePeriod: '2026-05',
      chargeClass: 'Correction',
    });
  });

  it('never moves usage back into an earlier open period', () => {
    expect(thrown(() => chargePeriodFor('2026-05', ['2026-05'], ['2026-04']))).toMatchObject({
      kind: 'conflict',
      code: 'NO_OPEN_BILLING_PERIOD',
      details: { period: '2026-05' },
    });
  });

  it('asks for a period that was never opened to be opened', () => {
    expect(thrown(() => chargePeriodFor('2026-08', ['2026-04'], ['2026-05']))).toMatchObject({
      kind: 'conflict',
      code: 'BILLING_PERIOD_NOT_OPEN',
    });
    expect(thrown(() => chargePeriodFor('2026-8', [], []))).toMatchObject({ code: 'INVALID_BILLING_PERIOD' });
  });

  it('always charges a closed period’s usage later than it, in an open period', () => {
    const periods = fc.integer({ min: 0, max: 47 }).map((index) => {
      let period = '2026-01';
      for (let step = 0; step < index; step += 1) period = nextPeriod(period);
      return period;
    });
    fc.assert(
      fc.property(periods, fc.uniqueArray(periods, { minLength: 1 }), (usage, open) => {
        const closed = [usage];
        const later = open.filter((period) => period > usage);
        if (later.length === 0) {
          expect(thrown(() => chargePeriodFor(usage, closed, open))).toMatchObject({
            code: 'NO_OPEN_BILLING_PERIOD',
          });
          return;
        }
        const placement = chargePeriodFor(usage, closed, open);
        expect(placement.chargeClass).toBe('Correction');
        expect(placement.correctsPeriod).toBe(usage);
        expect(placement.chargePeriod).toBe([...later].sort(comparePeriods)[0]);
      }),
    );
  });
});
