import fc from 'fast-check';
import { formatSeoulDateTime, monthOfDay, seoulDay, seoulMonth, splitUsageByDay } from './day-split.js';
import { MAX_USAGE_RECORD_MS, meteredGpuSeconds } from './usage-record.js';

const at = (iso: string): Date => new Date(iso);

describe('Seoul calendar', () => {
  it.each([
    ['2026-04-30T14:59:59.999Z', '2026-04-30', '2026-04'],
    ['2026-04-30T15:00:00.000Z', '2026-05-01', '2026-05'],
    ['2026-12-31T15:00:00.000Z', '2027-01-01', '2027-01'],
    ['2026-01-01T00:00:00.000Z', '2026-01-01', '2026-01'],
  ])('%s is %s in Seoul', (iso, day, month) => {
    expect(seoulDay(at(iso))).toBe(day);
    expect(seoulDay(at(iso).getTime())).toBe(day);
    expect(seoulMonth(at(iso))).toBe(month);
    expect(monthOfDay(day)).toBe(month);
  });

  it('formats instants for people in KST', () => {
    expect(formatSeoulDateTime(at('2026-04-30T15:30:00Z'))).toBe('2026-05-01 00:30 KST');
  });

  it('refuses a malformed day', () => {
    expect(() => monthOfDay('2026-5-1')).toThrow(TypeError);
  });
});

describe('splitUsageByDay', () => {
  it('keeps a record inside one Seoul day whole', () => {
    expect(splitUsageByDay(8, at('2026-05-01T01:00:00Z'), at('2026-05-01T02:00:00Z'))).toEqual([
      { day: '2026-05-01', gpuSeconds: 8n * 3600n },
    ]);
  });

  it('cuts at Seoul midnight (15:00 UTC), not UTC midnight', () => {
    expect(splitUsageByDay(2, at('2026-05-01T14:00:00Z'), at('2026-05-02T01:00:00Z'))).toEqual([
      { day: '2026-05-01', gpuSeconds: 2n * 3600n },
      { day: '2026-05-02', gpuSeconds: 2n * 10n * 3600n },
    ]);
  });

  it('crosses a month boundary into the next billing period', () => {
    const pieces = splitUsageByDay(1, at('2026-05-31T14:59:30Z'), at('2026-05-31T15:00:30Z'));
    expect(pieces).toEqual([
      { day: '2026-05-31', gpuSeconds: 30n },
      { day: '2026-06-01', gpuSeconds: 30n },
    ]);
    expect(pieces.map((piece) => monthOfDay(piece.day))).toEqual(['2026-05', '2026-06']);
  });

  it('lays the billed seconds from the second the record started in', () => {
    // 14:59:59.900 → 15:00:00.100 is 200 ms, billed as 1 s: the second 14:59:59, the day before.
    expect(splitUsageByDay(3, at('2026-05-01T14:59:59.900Z'), at('2026-05-01T15:00:00.100Z'))).toEqual([
      { day: '2026-05-01', gpuSeconds: 3n },
    ]);
    // 14:59:59.500 → 15:00:01.000 is 1.5 s, billed as 2 s: 14:59:59 and 15:00:00.
    expect(splitUsageByDay(3, at('2026-05-01T14:59:59.500Z'), at('2026-05-01T15:00:01.000Z'))).toEqual([
      { day: '2026-05-01', gpuSeconds: 3n },
      { day: '2026-05-02', gpuSeconds: 3n },
    ]);
  });

  it('gives 32 pieces for 31 days that start mid-day', () => {
    const pieces = splitUsageByDay(1, at('2026-05-01T03:00:00Z'), at('2026-06-01T03:00:00Z'));
    expect(pieces).toHaveLength(32);
    expect(pieces[0]).toEqual({ day: '2026-05-01', gpuSeconds: 12n * 3600n });
    expect(pieces.at(-1)).toEqual({ day: '2026-06-01', gpuSeconds: 12n * 3600n });
  });

  it('adds up exactly to meteredGpuSeconds, in consecutive Seoul days, for any interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1_700_000_000_000, max: 2_000_000_000_000 }),
        fc.integer({ min: 1, max: MAX_USAGE_RECORD_MS }),
        (gpus, startMs, durationMs) => {
          const startedAt = new Date(startMs);
          const endedAt = new Date(startMs + durationMs);
          const pieces = splitUsageByDay(gpus, startedAt, endedAt);
          const total = pieces.reduce((sum, piece) => sum + piece.gpuSeconds, 0n);
          expect(total).toBe(meteredGpuSeconds(gpus, startedAt, endedAt));
          expect(pieces[0]?.day).toBe(seoulDay(startedAt));
          pieces.forEach((piece, index) => {
            expect(piece.gpuSeconds > 0n).toBe(true);
            expect(piece.gpuSeconds <= BigInt(gpus) * 86_400n).toBe(true);
            if (index > 0) {
              const previous = Date.parse(`${pieces[index - 1]?.day ?? ''}T00:00:00Z`);
              expect(Date.parse(`${piece.day}T00:00:00Z`) - previous).toBe(86_400_000);
            }
          });
        },
      ),
    );
  });
});
