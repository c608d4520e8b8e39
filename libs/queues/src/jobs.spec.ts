import { JOB_NAMES, jobOptionsFor, parseJob, queueFor } from './jobs.js';

describe('job contract', () => {
  it('routes every job name to a queue', () => {
    for (const name of JOB_NAMES) expect(['intake', 'maintenance']).toContain(queueFor(name));
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
});
