import { afterInfrastructureFailure } from './infrastructure-requeue.js';

describe('afterInfrastructureFailure', () => {
  it('requeues while the program’s limit allows, counting the requeues in the reason', () => {
    expect(afterInfrastructureFailure(0, 3, 'node_down: n-1: PSU')).toEqual({
      action: 'requeue',
      reason: 'node_down: n-1: PSU (requeued, 1 of at most 3)',
    });
    expect(afterInfrastructureFailure(2, 3, 'lost').action).toBe('requeue');
  });

  it('fails once the limit is reached, and says why it was not requeued', () => {
    expect(afterInfrastructureFailure(3, 3, 'lost')).toEqual({
      action: 'fail',
      reason: "lost (not requeued: already requeued 3 times, the program's limit)",
    });
    expect(afterInfrastructureFailure(0, 0, 'lost')).toEqual({
      action: 'fail',
      reason: 'lost (not requeued: the program does not requeue workloads)',
    });
  });
});
