import fc from 'fast-check';
import { thrownBy } from '../../test/factories.js';
import { DomainError } from '../errors/domain-error.js';
import {
  describeRecallRule,
  evaluateRecallRules,
  formatBasisPoints,
  parseRecallRules,
  recallRuleDueAt,
  type RecallRule,
  type RecallState,
} from './recall-rules.js';

const HOUR = 3600n;
const DAY_MS = 86_400_000;
const at = (iso: string): Date => new Date(iso);

// The examples of the RecallRule doc comment, as a program operator writes them.
const DAY_30 = `[{ "id": "day30", "at": { "days": 30 }, "usedBelowBasisPoints": 1000,
  "recall": { "remainingBasisPoints": 2500 } }]`;
const MIDPOINT = `[{ "id": "midpoint", "at": { "windowBasisPoints": 5000 }, "usedBelowBasisPoints": 2500,
  "recall": { "remainingBasisPoints": 5000 } }]`;
const QUARTERLY = `[
  { "id": "q1", "at": { "windowBasisPoints": 2500 }, "usedBelowBasisPoints": 1000, "recall": { "remainingBasisPoints": 5000 } },
  { "id": "q2", "at": { "windowBasisPoints": 5000 }, "usedBelowBasisPoints": 3000, "recall": { "remainingBasisPoints": 5000 } },
  { "id": "q3", "at": { "windowBasisPoints": 7500 }, "usedBelowBasisPoints": 5000, "recall": { "remainingBasisPoints": 5000 } }
]`;

const rulesOf = (json: string): RecallRule[] => parseRecallRules(JSON.parse(json));

function problemsOf(json: unknown): { rule: string; field?: string; message: string }[] {
  const error = thrownBy(() => parseRecallRules(json));
  expect(error).toBeInstanceOf(DomainError);
  expect(error).toMatchObject({ kind: 'invalid', code: 'INVALID_RECALL_RULES' });
  return ((error as DomainError).details as { problems: { rule: string; field?: string; message: string }[] })
    .problems;
}

describe('parseRecallRules', () => {
  it('reads the documented examples', () => {
    expect(rulesOf(DAY_30)).toEqual([
      { id: 'day30', at: { days: 30 }, usedBelowBasisPoints: 1000, recall: { remainingBasisPoints: 2500 } },
    ]);
    expect(rulesOf(MIDPOINT).map(describeRecallRule)).toEqual([
      'at 50% of the window, under 25% used: 50% of the remainder returns to the program',
    ]);
    expect(rulesOf(DAY_30).map(describeRecallRule)).toEqual([
      'at day 30, under 10% used: 25% of the remainder returns to the program',
    ]);
    expect(rulesOf(QUARTERLY).map(describeRecallRule)).toEqual([
      'at 25% of the window, under 10% used: 50% of the remainder returns to the program',
      'at 50% of the window, under 30% used: 50% of the remainder returns to the program',
      'at 75% of the window, under 50% used: 50% of the remainder returns to the program',
    ]);
  });

  it('reads a share of the grant and an empty table', () => {
    expect(
      parseRecallRules([
        { id: 'g', at: { days: 1 }, usedBelowBasisPoints: 0, recall: { grantedBasisPoints: 10_000 } },
      ]).map(describeRecallRule),
    ).toEqual(['at day 1, under 0% used: 100% of the grant returns to the program']);
    expect(parseRecallRules([])).toEqual([]);
  });

  it('refuses anything but an array', () => {
    expect(problemsOf({ rules: [] })).toEqual([]);
    expect(thrownBy(() => parseRecallRules(null))).toMatchObject({
      message: expect.stringContaining('must be a JSON array of rules (use [] for none)'),
    });
  });

  it('reports every problem at once, with fields and what would be accepted', () => {
    const problems = problemsOf([
      'day30',
      { id: '', at: { days: 0 }, usedBelowBasisPoints: 10_001, recall: { remainingBasisPoints: -1 } },
      { id: 'a', at: { days: 30, windowBasisPoints: 5000 }, usedBelowBasisPoints: '10%', recall: {} },
      {
        id: 'b',
        at: { days: 1.5 },
        usedBelowBasisPoints: 1000,
        recall: { grantedBasisPoints: 2.5 },
        note: 'x',
      },
      {
        id: 'c',
        at: { windowBasisPoints: 5000, day: 1 },
        usedBelowBasisPoints: 1000,
        recall: { remainingBasisPoints: 1 },
      },
      { id: 'd', at: { days: 7 }, usedBelowBasisPoints: 1000, recall: { remainingBasisPoints: 1 } },
      { id: 'd', at: { days: 8 }, usedBelowBasisPoints: 1000, recall: { remainingBasisPoints: 1 } },
    ]);
    expect(problems.map((problem) => [problem.rule, problem.field])).toEqual([
      ['RECALL_RULE_NOT_OBJECT', 'rules[0]'],
      ['RECALL_RULE_ID_MISSING', 'rules[1].id'],
      ['RECALL_RULE_INVALID_DAYS', 'rules[1].at.days'],
      ['RECALL_RULE_INVALID_BASIS_POINTS', 'rules[1].usedBelowBasisPoints'],
      ['RECALL_RULE_INVALID_BASIS_POINTS', 'rules[1].recall.remainingBasisPoints'],
      ['RECALL_RULE_INVALID_SHAPE', 'rules[2].at'],
      ['RECALL_RULE_INVALID_BASIS_POINTS', 'rules[2].usedBelowBasisPoints'],
      ['RECALL_RULE_INVALID_SHAPE', 'rules[2].recall'],
      ['RECALL_RULE_UNKNOWN_FIELD', 'rules[3].note'],
      ['RECALL_RULE_INVALID_DAYS', 'rules[3].at.days'],
      ['RECALL_RULE_INVALID_BASIS_POINTS', 'rules[3].recall.grantedBasisPoints'],
      ['RECALL_RULE_UNKNOWN_FIELD', 'rules[4].at.day'],
      ['RECALL_RULE_DUPLICATE_ID', 'rules[6].id'],
    ]);
    const messages = problems.map((problem) => problem.message).join('\n');
    expect(messages).toContain('rules[1].at.days must be a whole number of days of at least 1, got 0.');
    expect(messages).toContain(
      'rules[1].usedBelowBasisPoints must be whole basis points from 0 to 10000 (25% = 2500), got 10001.',
    );
    expect(messages).toContain(
      'rules[2].at must be an object with exactly one of days or windowBasisPoints, such as { "days": 30 } or { "windowBasisPoints": 5000 }',
    );
    expect(messages).toContain('rules[3] has a field "note" that recall rules do not use');
    expect(messages).toContain('Recall rule id "d" is used twice');
    expect(thrownBy(() => parseRecallRules([{}]))).toMatchObject({
      message: expect.stringMatching(/^The recall rules have 4 problems: rules\[0\] needs an id/),
    });
  });
});

describe('formatBasisPoints', () => {
  it.each([
    [0, '0%'],
    [1, '0.01%'],
    [1250, '12.5%'],
    [3333, '33.33%'],
    [10_000, '100%'],
  ])('%p bp is %p', (basisPoints, text) => {
    expect(formatBasisPoints(basisPoints)).toBe(text);
  });
});

const windowStart = at('2026-02-28T15:00:00Z');
const windowEnd = at('2026-11-30T15:00:00Z');

function makeState(overrides: Partial<RecallState> = {}): RecallState {
  return {
    allocationId: 'a1',
    granted: 1000n * HOUR,
    consumed: 50n * HOUR,
    held: 100n * HOUR,
    remaining: 850n * HOUR,
    windowStart,
    windowEnd,
    now: new Date(windowStart.getTime() + 30 * DAY_MS),
    alreadyProposedRuleIds: new Set(),
    ...overrides,
  };
}

describe('recallRuleDueAt', () => {
  it('counts days from the window start, or a share of the window floored to the millisecond', () => {
    const [day30] = rulesOf(DAY_30);
    expect(recallRuleDueAt(day30, windowStart, windowEnd)).toEqual(at('2026-03-30T15:00:00Z'));
    const [midpoint] = rulesOf(MIDPOINT);
    expect(recallRuleDueAt(midpoint, at('2026-01-01T00:00:00.000Z'), at('2026-01-01T00:00:00.003Z'))).toEqual(
      at('2026-01-01T00:00:00.001Z'),
    );
  });
});

describe('evaluateRecallRules', () => {
  it('at day 30, under 10% used: proposes 25% of the remainder, and leaves holds alone', () => {
    expect(evaluateRecallRules(rulesOf(DAY_30), makeState())).toEqual([
      {
        ruleId: 'day30',
        allocationId: 'a1',
        gpuSeconds: 212n * HOUR + 1800n,
        dueAt: at('2026-03-30T15:00:00Z'),
        usedBasisPoints: 500,
        reason:
          'Program rule "day30" (at day 30, under 10% used: 25% of the remainder returns to the program) came ' +
          'due 2026-03-31 00:00 KST. Allocation a1 has used 5% of its grant (50 GPU-hours of 1,000 GPU-hours), ' +
          'so 212.5 GPU-hours of its unused balance return to the program for projects on the waitlist. ' +
          'The 100 GPU-hours held by running workloads are not touched.',
      },
    ]);
  });

  it('is not due before its instant nor once the window has ended', () => {
    const rules = rulesOf(DAY_30);
    const dueAt = windowStart.getTime() + 30 * DAY_MS;
    expect(evaluateRecallRules(rules, makeState({ now: new Date(dueAt - 1) }))).toEqual([]);
    expect(evaluateRecallRules(rules, makeState({ now: windowEnd }))).toEqual([]);
    expect(evaluateRecallRules(rules, makeState({ now: new Date(windowEnd.getTime() - 1) }))).toHaveLength(1);
  });

  it('fires only strictly under the threshold', () => {
    const rules = rulesOf(DAY_30);
    expect(evaluateRecallRules(rules, makeState({ consumed: 100n * HOUR }))).toEqual([]);
    expect(evaluateRecallRules(rules, makeState({ consumed: 100n * HOUR - 1n }))).toMatchObject([
      { usedBasisPoints: 999 },
    ]);
  });

  it('fires once per rule', () => {
    expect(
      evaluateRecallRules(rulesOf(DAY_30), makeState({ alreadyProposedRuleIds: new Set(['day30']) })),
    ).toEqual([]);
  });

  it('at the midpoint, under 25% used: halves the remainder (INCITE/ALCC-like)', () => {
    const now = new Date((windowStart.getTime() + windowEnd.getTime()) / 2);
    const proposals = evaluateRecallRules(
      rulesOf(MIDPOINT),
      makeState({ now, consumed: 200n * HOUR, held: 0n, remaining: 800n * HOUR }),
    );
    expect(proposals).toMatchObject([{ ruleId: 'midpoint', gpuSeconds: 400n * HOUR, usedBasisPoints: 2000 }]);
  });

  it('quarterly rules evaluated late apply in order, each to what the one before left', () => {
    const now = new Date(windowStart.getTime() + (windowEnd.getTime() - windowStart.getTime()) * 0.8);
    const proposals = evaluateRecallRules(
      [...rulesOf(QUARTERLY)].reverse(),
      makeState({ now, consumed: 200n * HOUR, held: 0n, remaining: 800n * HOUR }),
    );
    // 20% used: q1 (under 10%) does not fire; q2 and q3 do
    expect(proposals.map((proposal) => [proposal.ruleId, proposal.gpuSeconds])).toEqual([
      ['q2', 400n * HOUR],
      ['q3', 200n * HOUR],
    ]);
  });

  it('caps a share of the grant at what running workloads do not hold', () => {
    const rule: RecallRule = {
      id: 'half',
      at: { days: 1 },
      usedBelowBasisPoints: 5000,
      recall: { grantedBasisPoints: 5000 },
    };
    const state = makeState({ consumed: 0n, held: 900n * HOUR, remaining: 100n * HOUR });
    expect(evaluateRecallRules([rule], state)).toMatchObject([{ gpuSeconds: 100n * HOUR }]);
    expect(evaluateRecallRules([rule], { ...state, held: 0n, remaining: 1000n * HOUR })).toMatchObject([
      { gpuSeconds: 500n * HOUR },
    ]);
  });

  it('skips amounts that round to nothing and allocations with nothing left', () => {
    const rules = rulesOf(DAY_30);
    expect(evaluateRecallRules(rules, makeState({ remaining: 3n }))).toEqual([]);
    expect(evaluateRecallRules(rules, makeState({ remaining: -5n }))).toEqual([]);
    expect(evaluateRecallRules(rules, makeState({ granted: 0n, consumed: 0n }))).toEqual([]);
  });

  it('orders rules due at the same instant by id', () => {
    const rule = (id: string): RecallRule => ({
      id,
      at: { days: 10 },
      usedBelowBasisPoints: 10_000,
      recall: { remainingBasisPoints: 1000 },
    });
    expect(evaluateRecallRules([rule('b'), rule('a'), rule('c')], makeState()).map((p) => p.ruleId)).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('never takes more than the unheld remainder, and only from rules due and under their threshold', () => {
    const ruleArbitrary: fc.Arbitrary<RecallRule> = fc.record({
      id: fc.string({ minLength: 1, maxLength: 3 }),
      at: fc.oneof(
        fc.record({ days: fc.integer({ min: 1, max: 400 }) }),
        fc.record({ windowBasisPoints: fc.integer({ min: 0, max: 10_000 }) }),
      ),
      usedBelowBasisPoints: fc.integer({ min: 0, max: 10_000 }),
      recall: fc.oneof(
        fc.record({ remainingBasisPoints: fc.integer({ min: 0, max: 10_000 }) }),
        fc.record({ grantedBasisPoints: fc.integer({ min: 0, max: 10_000 }) }),
      ),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(ruleArbitrary, { maxLength: 8, selector: (rule) => rule.id }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.bigInt({ min: -(10n ** 9n), max: 10n ** 12n }),
        fc.integer({ min: 0, max: 300 * DAY_MS }),
        fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 3 }),
        (rules, granted, consumed, remaining, offset, proposed) => {
          const state = makeState({
            granted,
            consumed,
            remaining,
            now: new Date(windowStart.getTime() + offset),
            alreadyProposedRuleIds: new Set(proposed),
          });
          const proposals = evaluateRecallRules(rules, state);
          const total = proposals.reduce((sum, proposal) => sum + proposal.gpuSeconds, 0n);
          expect(total <= (remaining > 0n ? remaining : 0n)).toBe(true);
          proposals.forEach((proposal, index) => {
            const rule = rules.find((candidate) => candidate.id === proposal.ruleId);
            expect(rule).toBeDefined();
            expect(proposed).not.toContain(proposal.ruleId);
            expect(proposal.gpuSeconds > 0n).toBe(true);
            expect(state.now.getTime()).toBeGreaterThanOrEqual(proposal.dueAt.getTime());
            expect(state.now.getTime()).toBeLessThan(windowEnd.getTime());
            expect(consumed * 10_000n < BigInt(rule?.usedBelowBasisPoints ?? 0) * granted).toBe(true);
            const previous = proposals[index - 1];
            if (previous !== undefined) {
              expect(previous.dueAt.getTime()).toBeLessThanOrEqual(proposal.dueAt.getTime());
            }
          });
        },
      ),
    );
  });
});
