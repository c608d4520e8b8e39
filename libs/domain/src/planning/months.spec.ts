import { monthIndexAt, seoulMidnight, seoulPlanningMonths } from './months.js';

describe('Seoul planning months', () => {
  it('are [Seoul midnight of the 1st, Seoul midnight of the next 1st) in Unix seconds', () => {
    expect(seoulPlanningMonths('2026-01', 1)).toEqual([
      { key: '2026-01', start: 1767193200, end: 1769871600 },
    ]);
    expect(new Date(1767193200 * 1000).toISOString()).toBe('2025-12-31T15:00:00.000Z');
  });

  it('run contiguously across a year end, with exact month lengths', () => {
    const months = seoulPlanningMonths('2026-11', 4);
    expect(months.map((m) => m.key)).toEqual(['2026-11', '2026-12', '2027-01', '2027-02']);
    expect(months.map((m) => (m.end - m.start) / 86_400)).toEqual([30, 31, 31, 28]);
    months.slice(1).forEach((month, i) => expect(month.start).toBe(months[i].end));
  });

  it('refuse a malformed month or count', () => {
    expect(() => seoulPlanningMonths('2026-13', 1)).toThrow(
      expect.objectContaining({ code: 'PLANNING_MONTH_INVALID' }),
    );
    expect(() => seoulPlanningMonths('2026-01', 0)).toThrow(
      expect.objectContaining({ code: 'PLANNING_MONTH_COUNT_INVALID' }),
    );
  });

  it('give a Seoul midnight for a day, refusing days that do not exist', () => {
    expect(seoulMidnight('2026-05-01')).toBe(Date.UTC(2026, 4, 1) / 1000 - 9 * 3600);
    expect(() => seoulMidnight('2026-02-30')).toThrow(
      expect.objectContaining({ code: 'PLANNING_DAY_INVALID' }),
    );
  });

  it('find the month of an instant', () => {
    const months = seoulPlanningMonths('2026-01', 3);
    expect(monthIndexAt(months, months[1].start)).toBe(1);
    expect(monthIndexAt(months, months[1].start - 1)).toBe(0);
    expect(monthIndexAt(months, months[2].end)).toBe(-1);
  });
});
