import { findUnstorableText, unstorableTextProblem } from './storable-text.js';

describe('unstorableTextProblem', () => {
  it('accepts ordinary text, Korean, and paired surrogates (emoji)', () => {
    expect(unstorableTextProblem('')).toBeUndefined();
    expect(unstorableTextProblem('정보통신산업진흥원')).toBeUndefined();
    expect(unstorableTextProblem('GPU 🚀 time')).toBeUndefined();
    expect(unstorableTextProblem('\uD83D\uDE80')).toBeUndefined();
  });

  it('refuses NUL anywhere in the text', () => {
    expect(unstorableTextProblem('\u0000')).toMatch(/NUL character \(U\+0000\)/);
    expect(unstorableTextProblem('abc\u0000def')).toMatch(/NUL/);
  });

  it('refuses a lone high or low surrogate, wherever it stands', () => {
    expect(unstorableTextProblem('\uD800')).toMatch(/unpaired UTF-16 surrogate \(U\+D800\)/);
    expect(unstorableTextProblem('a\uD83Db')).toMatch(/U\+D83D/);
    expect(unstorableTextProblem('\uDE80x')).toMatch(/U\+DE80/);
    expect(unstorableTextProblem('x\uDE80')).toMatch(/U\+DE80/);
    // Two high surrogates: the first has no pair.
    expect(unstorableTextProblem('\uD83D\uD83D\uDE80')).toMatch(/U\+D83D/);
    // Reversed pair: both are lone.
    expect(unstorableTextProblem('\uDE80\uD83D')).toMatch(/U\+DE80/);
  });
});

describe('findUnstorableText', () => {
  it('finds nothing in clean nested values, or in non-text values', () => {
    expect(findUnstorableText({ a: 'x', b: [1, true, null, { c: 'ok 🚀' }] })).toEqual([]);
    expect(findUnstorableText(undefined)).toEqual([]);
    expect(findUnstorableText(42)).toEqual([]);
  });

  it('names each bad string by its path through objects and arrays', () => {
    const problems = findUnstorableText({
      justification: 'a\u0000b',
      records: [{ externalId: 'ok' }, { externalId: 'ok' }, { source: 's', externalId: '\uD800' }],
      nested: { deeper: { list: ['fine', '\u0000'] } },
    });
    expect(problems.map((problem) => problem.field).sort()).toEqual([
      'justification',
      'nested.deeper.list[1]',
      'records[2].externalId',
    ]);
    expect(problems.find((problem) => problem.field === 'records[2].externalId')?.message).toMatch(/U\+D800/);
  });

  it('names a bare string by the empty path (the caller says which parameter it was)', () => {
    expect(findUnstorableText('\u0000')).toEqual([{ field: '', message: expect.stringMatching(/NUL/) }]);
  });

  it('checks object keys too (a record of scores is keyed by the sender)', () => {
    const problems = findUnstorableText({ scores: { 'me\u0000rit': 5 } });
    expect(problems).toEqual([
      { field: 'scores."me\\u0000rit"', message: expect.stringMatching(/key.*NUL/) },
    ]);
  });

  it('leaves out the paths the caller checks itself, item by item', () => {
    const body = { note: '\u0000', records: [{ source: '\u0000' }, { source: 'fine' }] };
    expect(findUnstorableText(body, { skip: new Set(['records[]']) }).map((p) => p.field)).toEqual(['note']);
  });

  it('stops at the limit, so a huge body does not make a huge answer', () => {
    const records = Array.from({ length: 10_000 }, () => ({ source: '\u0000' }));
    expect(findUnstorableText({ records })).toHaveLength(20);
    expect(findUnstorableText({ records }, { limit: 3 })).toHaveLength(3);
  });

  it('walks very deep nesting without overflowing the stack', () => {
    let deep: unknown = '\u0000';
    for (let depth = 0; depth < 100_000; depth += 1) deep = [deep];
    expect(findUnstorableText(deep)).toHaveLength(1);
  });
});
