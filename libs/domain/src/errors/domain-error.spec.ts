import { DomainError, isDomainError, notFound, ruleViolated } from './domain-error.js';

describe('DomainError', () => {
  it('carries kind, code, message and details and is an Error', () => {
    const error = new DomainError('conflict', 'ILLEGAL_TRANSITION', 'Cannot do that.', { from: 'draft' });
    expect(error).toBeInstanceOf(Error);
    expect(isDomainError(error)).toBe(true);
    expect(error).toMatchObject({
      kind: 'conflict',
      code: 'ILLEGAL_TRANSITION',
      message: 'Cannot do that.',
      name: 'DomainError',
    });
    expect(error.details).toEqual({ from: 'draft' });
  });

  it.each(['not_found', 'NotFound', 'NOT-FOUND', '_X', 'X__Y', ''])(
    'rejects the non-SNAKE_CASE code %p',
    (code) => {
      expect(() => new DomainError('invalid', code, 'm')).toThrow(TypeError);
    },
  );

  it('notFound names the subject and uses code NOT_FOUND', () => {
    const error = notFound('Program', 'p-42');
    expect(error.kind).toBe('not_found');
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('Program p-42 was not found');
  });

  it('factories set their kind', () => {
    expect(ruleViolated('NOTHING_GRANTED', 'm').kind).toBe('rule_violated');
    expect(isDomainError(new Error('plain'))).toBe(false);
  });
});
