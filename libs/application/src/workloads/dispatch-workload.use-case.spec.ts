import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { ClusterAdapter, type DispatchRequest } from './cluster-adapter.js';
import { DispatchWorkloadUseCase } from './dispatch-workload.use-case.js';

class RecordingAdapter extends ClusterAdapter {
  readonly dispatched: DispatchRequest[] = [];
  readonly cancelled: { workloadId: string; attempt: number; reason: string }[] = [];
  constructor(readonly kind: string) {
    super();
  }
  dispatch(workload: DispatchRequest): Promise<void> {
    this.dispatched.push(workload);
    return Promise.resolve();
  }
  cancel(workloadId: string, attempt: number, reason: string): Promise<void> {
    this.cancelled.push({ workloadId, attempt, reason });
    return Promise.resolve();
  }
}

function setUp() {
  const harness = workloadHarness();
  const simulator = new RecordingAdapter('simulator');
  const slurm = new RecordingAdapter('slurm');
  const dispatcher = new DispatchWorkloadUseCase(harness.workloads, harness.placements, [simulator, slurm]);
  return { ...harness, simulator, slurm, dispatcher };
}

describe('DispatchWorkloadUseCase', () => {
  it('skips what is gone, another attempt, already dispatched or no longer admitted', async () => {
    const { dispatcher, workloads, simulator, steps } = setUp();
    await expect(dispatcher.dispatch('w-404', 0)).resolves.toEqual({ outcome: 'skipped', reason: 'gone' });
    workloads.add(makeWorkload({ state: 'admitted', attempt: 2 }));
    await expect(dispatcher.dispatch('w-1', 1)).resolves.toEqual({
      outcome: 'skipped',
      reason: 'stale_attempt',
    });
    workloads.add(makeWorkload({ id: 'w-2', state: 'running', dispatchedAt: new Date() }));
    await expect(dispatcher.dispatch('w-2', 0)).resolves.toEqual({
      outcome: 'skipped',
      reason: 'already_dispatched',
    });
    workloads.add(makeWorkload({ id: 'w-3', state: 'cancelled' }));
    await expect(dispatcher.dispatch('w-3', 0)).resolves.toEqual({
      outcome: 'skipped',
      reason: 'not_admitted',
    });
    expect(simulator.dispatched).toEqual([]);
    expect(steps).toEqual([]);
  });

  it('hands the attempt to its cluster’s adapter with its placement, then marks it dispatched', async () => {
    const { dispatcher, workloads, placements, slurm, steps } = setUp();
    workloads.add(makeWorkload({ state: 'admitted', attempt: 1, gpus: 16 }));
    placements.parts.set('w-1', [
      { nodeId: 'n-1', nodeName: 'a-01', gpus: 8, adapter: 'slurm' },
      { nodeId: 'n-2', nodeName: 'a-02', gpus: 8, adapter: 'slurm' },
    ]);
    await expect(dispatcher.dispatch('w-1', 1)).resolves.toEqual({ outcome: 'dispatched', adapter: 'slurm' });
    expect(slurm.dispatched).toMatchObject([
      {
        id: 'w-1',
        attempt: 1,
        gpus: 16,
        placement: [
          { nodeId: 'n-1', nodeName: 'a-01', gpus: 8 },
          { nodeId: 'n-2', nodeName: 'a-02', gpus: 8 },
        ],
      },
    ]);
    expect(steps).toEqual(['dispatched w-1']);
    await expect(dispatcher.dispatch('w-1', 1)).resolves.toMatchObject({ reason: 'already_dispatched' });
  });

  it('falls back to the simulator without placements, and fails loudly on an adapter it does not have', async () => {
    const { dispatcher, workloads, placements, simulator } = setUp();
    workloads.add(makeWorkload({ state: 'admitted' }), makeWorkload({ id: 'w-2', state: 'admitted' }));
    await expect(dispatcher.dispatch('w-1', 0)).resolves.toEqual({
      outcome: 'dispatched',
      adapter: 'simulator',
    });
    expect(simulator.dispatched).toHaveLength(1);
    placements.parts.set('w-2', [{ nodeId: 'n-1', nodeName: 'k-01', gpus: 8, adapter: 'kubernetes' }]);
    await expect(dispatcher.dispatch('w-2', 0)).rejects.toThrow('No cluster adapter "kubernetes"');
  });

  it('always forwards a cancel, to the placed cluster or the default one', async () => {
    const { dispatcher, placements, simulator, slurm } = setUp();
    placements.parts.set('w-1', [{ nodeId: 'n-1', nodeName: 'a-01', gpus: 8, adapter: 'slurm' }]);
    await expect(dispatcher.cancel('w-1', 0, 'cancelled')).resolves.toBe('slurm');
    await expect(dispatcher.cancel('w-gone', 3, 'lost')).resolves.toBe('simulator');
    expect(slurm.cancelled).toEqual([{ workloadId: 'w-1', attempt: 0, reason: 'cancelled' }]);
    expect(simulator.cancelled).toEqual([{ workloadId: 'w-gone', attempt: 3, reason: 'lost' }]);
  });
});
