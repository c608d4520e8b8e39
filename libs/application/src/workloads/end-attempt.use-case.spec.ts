import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { workloadHarness } from '../../../../test/fakes/workloads.harness.js';

const AT = new Date('2026-06-01T02:00:00Z');
const tx = {} as never;

describe('EndAttemptUseCase', () => {
  it('leaves a terminal workload alone (redelivered reports change nothing)', async () => {
    const { endAttempt, steps } = workloadHarness();
    for (const state of ['succeeded', 'failed', 'cancelled', 'preempted']) {
      const ended = await endAttempt.endWorkload(tx, makeWorkload({ state }), {
        state: 'failed',
        reason: 'x',
        runtimeSeconds: null,
        at: AT,
      });
      expect(ended).toBe(false);
    }
    expect(steps).toEqual([]);
  });

  it('records a hold for an attempt admitted without one, then closes it', async () => {
    const { endAttempt, workloads, holds, ledger, steps } = workloadHarness();
    const workload = makeWorkload({ state: 'admitted', attempt: 0, heldGpuSeconds: 1000n });
    workloads.add(workload);
    await endAttempt.endWorkload(tx, workload, {
      state: 'cancelled',
      reason: 'x',
      runtimeSeconds: null,
      at: AT,
    });
    expect(steps).toEqual([
      'release placements w-1',
      'lock hold w-1:0',
      'insert hold w-1:0',
      'lock hold w-1:0',
      'post release:w-1:0:end',
      'close hold w-1:0',
      'end workload w-1 cancelled',
      'mark dirty H200',
    ]);
    expect(holds.get({ workloadId: 'w-1', attempt: 0 })).toMatchObject({
      remainingGpuSeconds: 0n,
      endedAt: AT,
    });
    expect(ledger.posted[0]?.entries).toEqual([
      { account: 'hold:a-1', amount: -1000n },
      { account: 'allocation:a-1', amount: 1000n },
    ]);
  });

  it('posts nothing for an attempt without a hold, and nothing again for a hold already closed', async () => {
    const { endAttempt, workloads, holds, ledger } = workloadHarness();
    workloads.add(
      makeWorkload({ id: 'w-1', state: 'admitted' }),
      makeWorkload({ id: 'w-2', state: 'running' }),
    );
    holds.add({ workloadId: 'w-2', attempt: 0, remainingGpuSeconds: 500n, endedAt: AT });
    const end = {
      state: 'failed',
      reason: 'x',
      runtimeSeconds: null,
      at: AT,
      refundReason: 'node_down',
    } as const;
    expect(await endAttempt.endWorkload(tx, makeWorkload({ id: 'w-1', state: 'admitted' }), end)).toBe(true);
    expect(await endAttempt.endWorkload(tx, makeWorkload({ id: 'w-2', state: 'running' }), end)).toBe(true);
    expect(ledger.posted).toEqual([]);
    expect(holds.get({ workloadId: 'w-2', attempt: 0 })?.remainingGpuSeconds).toBe(500n);
    expect(workloads.rows.get('w-2')?.state).toBe('failed');
  });

  it('requeues a preempted workload as its next attempt, refunding what was metered', async () => {
    const { endAttempt, workloads, holds, ledger, partitions } = workloadHarness();
    const workload = makeWorkload({
      state: 'running',
      attempt: 3,
      startedAt: new Date(AT.getTime() - 100_000),
    });
    workloads.add(workload);
    holds.add({ workloadId: 'w-1', attempt: 3, remainingGpuSeconds: 5000n, meteredGpuSeconds: 200n });
    await endAttempt.requeueWorkload(tx, workload, 'preempted: program g-2 needs its entitled share', AT);
    expect(workloads.rows.get('w-1')).toMatchObject({ state: 'queued', attempt: 4 });
    expect(ledger.kinds()).toEqual(['release', 'refund']);
    expect(holds.get({ workloadId: 'w-1', attempt: 3 })).toMatchObject({
      refundReason: 'preempted: program g-2 needs its entitled share',
      refundedGpuSeconds: 200n,
      // Preemption is refunded: the whole hold goes back now; its late usage records are refunded too.
      remainingGpuSeconds: 0n,
      releaseAfter: null,
    });
    expect(partitions.dirty).toEqual(['H200']);
  });
});
