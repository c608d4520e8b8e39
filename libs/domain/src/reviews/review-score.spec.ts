import fc from 'fast-check';
import { DomainError } from '../errors/domain-error.js';
import type { RubricCriterion } from '../programs/program.js';
import { assertNoConflictOfInterest, rankByScore, weightedScore } from './review-score.js';

const rubric: RubricCriterion[] = [
  { key: 'impact', label: 'Expected impact', weight: 3, maxScore: 10 },
  { key: 'feasibility', label: 'Feasibility', weight: 1, maxScore: 5 },
];

describe('weightedScore', () => {
  it('normalises each criterion to 0..100 and weights them', () => {
    // impact 9/10 → 90 (×3), feasibility 4/5 → 80 (×1): (270 + 80) / 4 = 87.5
    expect(weightedScore(rubric, { impact: 9, feasibility: 4 })).toEqual({ milli: 87500, display: '87.50' });
    expect(weightedScore(rubric, { impact: 10, feasibility: 5 })).toEqual({
      milli: 100000,
      display: '100.00',
    });
    expect(weightedScore(rubric, { impact: 0, feasibility: 0 })).toEqual({ milli: 0, display: '0.00' });
  });

  it('truncates instead of rounding, exactly', () => {
    const thirds: RubricCriterion[] = [{ key: 'q', label: 'Q', weight: 1, maxScore: 3 }];
    // 2/3 × 100 = 66.666…: milli 66666, display 66.66 (not 66.67)
    expect(weightedScore(thirds, { q: 2 })).toEqual({ milli: 66666, display: '66.66' });
    const sevenths: RubricCriterion[] = [
      { key: 'a', label: 'A', weight: 2, maxScore: 7 },
      { key: 'b', label: 'B', weight: 5, maxScore: 9 },
    ];
    // (2·(6/7) + 5·(8/9))·100 / 7 = 87.9818…
    expect(weightedScore(sevenths, { a: 6, b: 8 })).toEqual({ milli: 87981, display: '87.98' });
  });

  it('lists every problem with the scores', () => {
    let thrown: unknown;
    try {
      weightedScore(rubric, { impact: 11, novelty: 3 });
    } catch (error: unknown) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect(thrown).toMatchObject({ kind: 'invalid', code: 'INVALID_SCORES' });
    const { problems } = (thrown as DomainError).details as { problems: { rule: string; field: string }[] };
    expect(problems.map((problem) => [problem.rule, problem.field])).toEqual([
      ['SCORE_OUT_OF_RANGE', 'scores.impact'],
      ['SCORE_MISSING', 'scores.feasibility'],
      ['UNKNOWN_CRITERION', 'scores.novelty'],
    ]);
  });

  it.each([[-1], [2.5], [Number.NaN]])('rejects the score %p', (score) => {
    expect(() => weightedScore(rubric, { impact: score, feasibility: 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_SCORES' }),
    );
  });

  it('does not treat inherited keys such as "constructor" as scored', () => {
    const tricky: RubricCriterion[] = [{ key: 'constructor', label: 'C', weight: 1, maxScore: 5 }];
    expect(() => weightedScore(tricky, {})).toThrow(expect.objectContaining({ code: 'INVALID_SCORES' }));
  });

  it('refuses an empty rubric', () => {
    expect(() => weightedScore([], {})).toThrow(expect.objectContaining({ code: 'INVALID_RUBRIC' }));
  });

  it('lies between the lowest and highest normalised criterion and does not depend on criterion order (property)', () => {
    const criteria = fc.uniqueArray(
      fc.record({
        key: fc.string({ minLength: 1, maxLength: 6 }),
        weight: fc.integer({ min: 1, max: 20 }),
        maxScore: fc.integer({ min: 1, max: 100 }),
      }),
      { minLength: 1, maxLength: 6, selector: (criterion) => criterion.key },
    );
    const scenario = criteria.chain((list) =>
      fc.tuple(
        fc.constant(list),
        fc.tuple(...list.map((criterion) => fc.integer({ min: 0, max: criterion.maxScore }))),
      ),
    );
    fc.assert(
      fc.property(scenario, ([list, values]) => {
        const fullRubric = list.map((criterion) => ({ ...criterion, label: criterion.key }));
        const scores = Object.fromEntries(
          fullRubric.map((criterion, index) => [criterion.key, values[index] ?? 0]),
        );
        const { milli, display } = weightedScore(fullRubric, scores);
        // Each criterion's normalised milli-score, floored: the mean can't be below the lowest or above the highest.
        const perCriterion = fullRubric.map((criterion, index) =>
          Math.floor(((values[index] ?? 0) * 100000) / criterion.maxScore),
        );
        expect(milli).toBeGreaterThanOrEqual(Math.min(...perCriterion));
        expect(milli).toBeLessThanOrEqual(Math.max(...perCriterion));
        expect(display).toBe(
          `${Math.floor(milli / 1000)}.${String(Math.floor(milli / 10) % 100).padStart(2, '0')}`,
        );
        expect(weightedScore([...fullRubric].reverse(), scores).milli).toBe(milli);
      }),
    );
  });
});

describe('assertNoConflictOfInterest', () => {
  it('allows a reviewer from another organization without a declared conflict', () => {
    expect(() =>
      assertNoConflictOfInterest({
        reviewerOrganizationId: 'kaist',
        requestOrganizationId: 'snu',
        declaredConflict: false,
      }),
    ).not.toThrow();
    expect(() =>
      assertNoConflictOfInterest({
        reviewerOrganizationId: null,
        requestOrganizationId: 'snu',
        declaredConflict: false,
      }),
    ).not.toThrow();
  });

  it('forbids reviewing your own organization', () => {
    expect(() =>
      assertNoConflictOfInterest({
        reviewerOrganizationId: 'snu',
        requestOrganizationId: 'snu',
        declaredConflict: false,
      }),
    ).toThrow(
      expect.objectContaining({
        kind: 'forbidden',
        code: 'CONFLICT_OF_INTEREST',
        details: { reason: 'same_organization' },
      }),
    );
  });

  it('forbids reviewing after declaring a conflict', () => {
    expect(() =>
      assertNoConflictOfInterest({
        reviewerOrganizationId: 'kaist',
        requestOrganizationId: 'snu',
        declaredConflict: true,
      }),
    ).toThrow(expect.objectContaining({ code: 'CONFLICT_OF_INTEREST', details: { reason: 'declared' } }));
  });
});

describe('rankByScore', () => {
  const at = (minute: number) => new Date(Date.UTC(2026, 3, 1, 0, minute));

  it('orders by mean score, then earlier submission, then request id; unreviewed last', () => {
    const ranked = rankByScore([
      { requestId: 'late-tie', submittedAt: at(5), reviewMillis: [80000, 90000] },
      { requestId: 'unreviewed', submittedAt: at(0), reviewMillis: [] },
      { requestId: 'best', submittedAt: at(9), reviewMillis: [95000] },
      { requestId: 'early-tie', submittedAt: at(1), reviewMillis: [85000] },
      { requestId: 'b-same-time', submittedAt: at(1), reviewMillis: [70000] },
      { requestId: 'a-same-time', submittedAt: at(1), reviewMillis: [70000] },
    ]);
    expect(ranked.map((entry) => [entry.rank, entry.requestId, entry.averageMilli])).toEqual([
      [1, 'best', 95000],
      [2, 'early-tie', 85000],
      [3, 'late-tie', 85000],
      [4, 'a-same-time', 70000],
      [5, 'b-same-time', 70000],
      [6, 'unreviewed', null],
    ]);
  });

  it('compares exact means, not floored ones', () => {
    // 85000.5 beats 85000 even though both floor to 85000.
    const ranked = rankByScore([
      { requestId: 'a', submittedAt: at(0), reviewMillis: [85000] },
      { requestId: 'b', submittedAt: at(1), reviewMillis: [85000, 85001] },
    ]);
    expect(ranked.map((entry) => entry.requestId)).toEqual(['b', 'a']);
  });

  it('keeps extra fields of the candidates', () => {
    const [first] = rankByScore([
      { requestId: 'r', submittedAt: at(0), reviewMillis: [1], projectTitle: 'LLM' },
    ]);
    expect(first?.projectTitle).toBe('LLM');
  });
});
