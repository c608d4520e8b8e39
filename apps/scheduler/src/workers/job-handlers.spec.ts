import { SCHEDULER_JOB_NAMES } from '#queues';
import { assertHandlers } from './job-handlers.js';

describe('assertHandlers', () => {
  const noop = (): Promise<void> => Promise.resolve();
  const all = Object.fromEntries(SCHEDULER_JOB_NAMES.map((name) => [name, noop]));

  it('accepts exactly one handler per scheduler job name', () => {
    expect(() => assertHandlers(all)).not.toThrow();
  });

  it('refuses to start with a job name that has no handler', () => {
    const { 'reconcile.grants': _dropped, ...rest } = all;
    expect(() => assertHandlers(rest)).toThrow(/missing \[reconcile.grants\]/);
  });

  it('refuses handlers for jobs that are not the scheduler’s', () => {
    expect(() => assertHandlers({ ...all, 'cluster.run': noop })).toThrow(/unknown \[cluster.run\]/);
  });
});
