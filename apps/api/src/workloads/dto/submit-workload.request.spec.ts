import { workloadEventBody } from '../../agent/dto/workload-event.request.js';
import { submitBatchBody } from './submit-workload.request.js';

const base = {
  allocationId: '00000000-0000-4000-8000-000000000001',
  gpuModel: 'H200',
  gpus: 8,
  walltimeSeconds: 3600,
  name: 'sweep',
  count: 10,
};

const messagesAt = (
  result: { error?: { issues: { path: PropertyKey[]; message: string }[] } },
  field: string,
) =>
  (result.error?.issues ?? [])
    .filter((issue) => issue.path.join('.') === field)
    .map((issue) => issue.message);

describe('integer fields say their real constraint (issue 13 item 9)', () => {
  it.each([
    ['priorityTier', -3, 'must be a whole number from 0 to 9'],
    ['priorityTier', 1e30, 'must be a whole number from 0 to 9'],
    ['priorityTier', 1.5, 'must be a whole number from 0 to 9'],
    ['count', 0, 'must be a whole number from 1 to 10,000'],
    ['simulatedRuntimeSeconds', -1, 'must be a whole number of seconds from 0 to 2,592,000'],
  ])('workload %s = %p: %s', (field, value, message) => {
    const messages = messagesAt(submitBatchBody.safeParse({ ...base, [field]: value }), field);
    expect(messages.length).toBeGreaterThan(0);
    for (const got of messages) expect(got).toBe(message);
  });

  it('an agent event attempt out of range gives the range', () => {
    const result = workloadEventBody.safeParse({ type: 'started', attempt: -3, at: '2026-04-01T00:00:00Z' });
    expect(messagesAt(result, 'attempt')).toEqual(['must be a whole number from 0 to 1,000,000']);
  });
});
