import { integerIn, rubricCriterionSchema, wholeNumberIn } from './program-rules.schemas.js';

const messages = (value: unknown, schema = wholeNumberIn(1, 4096, 'GPUs')): string[] =>
  schema.safeParse(value).error?.issues.map((issue) => issue.message) ?? [];

describe('wholeNumberIn', () => {
  it('tells the whole constraint for a fraction, a number out of range however far, and a non-number', () => {
    const constraint = 'must be a whole number of GPUs from 1 to 4,096';
    for (const value of [2.5, -3, 0, 4097, 1e30, 'eight', null]) {
      const got = messages(value);
      expect(got.length).toBeGreaterThan(0);
      for (const message of got) expect(message).toBe(constraint);
    }
    expect(messages(8)).toEqual([]);
    expect(messages(4096)).toEqual([]);
  });

  it('names no unit when none is given (rubric weights)', () => {
    const weight = rubricCriterionSchema.shape.weight;
    expect(messages(-3, weight)).toEqual(['must be a whole number from 1 to 1,000']);
    expect(messages(1e30, weight)).toEqual(['must be a whole number from 1 to 1,000']);
  });

  it('integerIn refuses the same values with the same sentence', () => {
    const tier = integerIn(0, 9);
    for (const value of [2.5, -3, 10, 1e30, 'high']) {
      const got = messages(value, tier);
      expect(got.length).toBeGreaterThan(0);
      for (const message of got) expect(message).toBe('must be a whole number from 0 to 9');
    }
    expect(messages(9, tier)).toEqual([]);
  });
});
