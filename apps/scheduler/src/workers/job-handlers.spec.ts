import { assertHandlers } from './job-handlers.js';

describe('assertHandlers', () => {
  const noop = (): Promise<void> => Promise.resolve();

  it('accepts exactly one handler per job name', () => {
    expect(() => assertHandlers({ 'grant.allocation': noop, 'reconcile.grants': noop })).not.toThrow();
  });

  it('refuses to start with a job name that has no handler', () => {
    expect(() => assertHandlers({ 'grant.allocation': noop })).toThrow(/missing \[reconcile.grants\]/);
  });

  it('refuses handlers for jobs that are not in the contract', () => {
    expect(() =>
      assertHandlers({ 'grant.allocation': noop, 'reconcile.grants': noop, 'made.up': noop }),
    ).toThrow(/unknown \[made.up\]/);
  });
});
