import { DomainError } from '../errors/domain-error.js';
import { allowedWorkloadActions, cancelRefusal, usedGpuSeconds, WORKLOAD_STATES } from './workload-state.js';

describe('workload states', () => {
  it('lets queued, admitted and running workloads be cancelled, and refuses the ended ones', () => {
    for (const state of WORKLOAD_STATES) {
      const refusal = cancelRefusal({ id: 'w-1', state });
      const ended = ['succeeded', 'failed', 'cancelled', 'preempted'].includes(state);
      expect(allowedWorkloadActions(state, true)).toEqual(ended ? [] : ['cancel']);
      // Someone who may not act on the project's workloads (an operator reading the queue) is offered nothing.
      expect(allowedWorkloadActions(state, false)).toEqual([]);
      if (!ended) {
        expect(refusal).toBeNull();
        continue;
      }
      expect(refusal).toBeInstanceOf(DomainError);
      expect(refusal).toMatchObject({
        kind: 'conflict',
        code: 'ILLEGAL_TRANSITION',
        message: `Workload w-1 is already ${state}; only queued, admitted or running workloads can be cancelled.`,
        details: { state, action: 'cancel' },
      });
    }
  });

  it('counts the reported runtime, else the time since the start, else nothing', () => {
    const at = new Date('2026-06-01T01:00:00Z');
    const startedAt = new Date('2026-06-01T00:00:00Z');
    expect(usedGpuSeconds({ gpus: 4, startedAt }, 60, at)).toBe(240n);
    expect(usedGpuSeconds({ gpus: 4, startedAt }, null, at)).toBe(4n * 3600n);
    expect(usedGpuSeconds({ gpus: 4, startedAt: null }, null, at)).toBe(0n);
    expect(usedGpuSeconds({ gpus: 4, startedAt: new Date(at.getTime() + 5000) }, null, at)).toBe(0n);
  });
});
