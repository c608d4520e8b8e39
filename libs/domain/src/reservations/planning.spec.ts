import { ceilSeconds, floorSeconds, planningHorizon, seoulMonthKey } from './planning.js';

describe('planning adapter', () => {
  it('turns instants into whole seconds, spans outward', () => {
    expect(floorSeconds(new Date(1500))).toBe(1);
    expect(ceilSeconds(new Date(1500))).toBe(2);
    expect(ceilSeconds(new Date(2000))).toBe(2);
  });

  it('names Seoul months (UTC+9)', () => {
    // 2026-04-30T15:00:00Z is midnight of May 1st in Seoul.
    expect(seoulMonthKey(Date.parse('2026-04-30T14:59:59Z') / 1000)).toBe('2026-04');
    expect(seoulMonthKey(Date.parse('2026-04-30T15:00:00Z') / 1000)).toBe('2026-05');
  });

  it('covers from the month of `from` through the month of `through`, plus extra months', () => {
    const months = planningHorizon(
      Date.parse('2026-05-10T00:00:00Z') / 1000,
      Date.parse('2026-07-02T00:00:00Z') / 1000,
      2,
    );
    expect(months.map((month) => month.key)).toEqual(['2026-05', '2026-06', '2026-07', '2026-08', '2026-09']);
    expect(planningHorizon(0, 0, 0)).toHaveLength(1);
    expect(planningHorizon(0, 10 ** 10, 0, 12)).toHaveLength(12);
  });
});
