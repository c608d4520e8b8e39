import {
  JOB_NAMES,
  jobOptionsFor,
  parseJob,
  QUEUE_NAMES,
  queueFor,
  SCHEDULER_JOB_NAMES,
  SIMULATOR_JOB_NAMES,
} from './jobs.js';

describe('job contract', () => {
  it('routes every job name to a queue', () => {
    for (const name of JOB_NAMES) expect(QUEUE_NAMES).toContain(queueFor(name));
  });

  it('gives every job exactly one consuming process', () => {
    expect([...SCHEDULER_JOB_NAMES, ...SIMULATOR_JOB_NAMES].sort()).toEqual([...JOB_NAMES].sort());
    expect(SIMULATOR_JOB_NAMES.every((name) => queueFor(name) === 'cluster-simulator')).toBe(true);
    expect(SCHEDULER_JOB_NAMES.some((name) => queueFor(name) === 'cluster-simulator')).toBe(false);
  });

  it('coalesces cycle triggers per partition', () => {
    expect(jobOptionsFor({ name: 'schedule.cycle', data: { gpuModel: 'H200' } }).deduplication).toEqual({
      id: 'cycle-H200',
    });
  });

  it('validates payloads at the boundary', () => {
    expect(() => parseJob('grant.allocation', { requestId: 'not-a-uuid' })).toThrow();
    expect(() =>
      parseJob('grant.allocation', { requestId: '6b1f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d', extra: 1 }),
    ).toThrow();
    expect(() => parseJob('nope', {})).toThrow(/Unknown job name/);
  });

  it('gives a grant a job id without colons (BullMQ refuses them) that names the request', () => {
    const id = '6b1f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d';
    const options = jobOptionsFor({ name: 'grant.allocation', data: { requestId: id } });
    expect(options.jobId).toBe(`grant-${id}`);
    expect(options.jobId).not.toContain(':');
  });

  it('names a planning job by its allocation and coalesces waitlist re-plans per GPU model', () => {
    const id = '6b1f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d';
    expect(jobOptionsFor({ name: 'planning.plan', data: { allocationId: id } })).toMatchObject({
      jobId: id,
      removeOnComplete: true,
      removeOnFail: true,
    });
    expect(queueFor('planning.plan')).toBe('planning');
    expect(jobOptionsFor({ name: 'planning.replan', data: { gpuModel: 'H200' } }).deduplication).toEqual({
      id: 'replan-H200',
    });
  });
});
