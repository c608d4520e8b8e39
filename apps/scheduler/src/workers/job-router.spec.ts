import { UnrecoverableError } from 'bullmq';
import { SCHEDULER_JOB_NAMES } from '#queues';
import { assertHandlers, type JobContext } from './job-handlers.js';
import { handleJob } from './job-router.js';

describe('handleJob', () => {
  const requestId = '6f1c1c3e-5d0a-4f8e-9b7a-1c2d3e4f5a6b';

  function table(): { handlers: Record<string, unknown>; calls: [string, unknown, JobContext][] } {
    const calls: [string, unknown, JobContext][] = [];
    const handlers = Object.fromEntries(
      SCHEDULER_JOB_NAMES.map((name) => [
        name,
        (data: unknown, context: JobContext) => {
          calls.push([name, data, context]);
          return Promise.resolve(`${name} done`);
        },
      ]),
    );
    return { handlers, calls };
  }

  it('calls the handler of the job’s name with its parsed payload and the attempt number', async () => {
    const { handlers, calls } = table();
    assertHandlers(handlers);
    const result = await handleJob(handlers, {
      name: 'grant.allocation',
      data: { requestId },
      id: 'job-1',
      attemptsMade: 2,
    });
    expect(result).toBe('grant.allocation done');
    expect(calls).toEqual([['grant.allocation', { requestId }, { jobId: 'job-1', attempt: 3 }]]);
  });

  it('routes each scheduler job name to its own handler', async () => {
    const { handlers, calls } = table();
    assertHandlers(handlers);
    await handleJob(handlers, { name: 'reconcile.planning', data: { waitlists: true }, attemptsMade: 0 });
    await handleJob(handlers, { name: 'schedule.cycle', data: { gpuModel: 'H200' }, attemptsMade: 0 });
    expect(calls.map(([name, data]) => [name, data])).toEqual([
      ['reconcile.planning', { waitlists: true }],
      ['schedule.cycle', { gpuModel: 'H200' }],
    ]);
  });

  it('refuses a payload that breaks the contract without retry (UnrecoverableError)', async () => {
    const { handlers, calls } = table();
    assertHandlers(handlers);
    const attempt = handleJob(handlers, {
      name: 'grant.allocation',
      data: { requestId: 'nope' },
      attemptsMade: 0,
    });
    await expect(attempt).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(attempt).rejects.toThrow(/Invalid job grant.allocation/);
    await expect(
      handleJob(handlers, { name: 'no.such.job', data: {}, attemptsMade: 0 }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    expect(calls).toEqual([]);
  });

  it('refuses the simulated cluster’s jobs without retry', async () => {
    const { handlers, calls } = table();
    assertHandlers(handlers);
    const jobs = [
      { name: 'cluster.run', data: { workloadId: requestId, attempt: 1, gpus: 8, runtimeSeconds: 60 } },
      { name: 'cluster.cancel', data: { workloadId: requestId, attempt: 1 } },
    ];
    for (const job of jobs) {
      const attempt = handleJob(handlers, { ...job, attemptsMade: 0 });
      await expect(attempt).rejects.toThrow(/belongs to the simulated cluster/);
      await expect(attempt).rejects.toBeInstanceOf(UnrecoverableError);
    }
    expect(calls).toEqual([]);
  });
});
