import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { EndLostRunsUseCase, LOST_RUN_REASON } from './end-lost-runs.use-case.js';
import { StopAllocationWorkloadsUseCase } from './stop-allocation-workloads.use-case.js';

const GRACE_MS = 60_000;

describe('EndLostRunsUseCase', () => {
  it('re-reads candidates under the partition lock and ends only runs still lost, refunding them', async () => {
    const { transactions, workloads, partitions, endAttempt, holds, steps } = workloadHarness();
    const now = workloads.now;
    const longAgo = new Date(now.getTime() - 3 * 3600_000);
    workloads.add(
      makeWorkload({ id: 'w-1', state: 'running', dispatchedAt: longAgo, startedAt: longAgo }),
      // Its end report landed after the candidates were read.
      makeWorkload({ id: 'w-2', state: 'succeeded', dispatchedAt: longAgo, startedAt: longAgo }),
      // Within its walltime after all (started late).
      makeWorkload({
        id: 'w-3',
        state: 'running',
        dispatchedAt: longAgo,
        startedAt: new Date(now.getTime() - 60_000),
      }),
    );
    holds.add({ workloadId: 'w-1', attempt: 0, remainingGpuSeconds: 8n * 3600n, meteredGpuSeconds: 100n });
    workloads.overdue.push(
      { id: 'w-1', attempt: 0, gpuModel: 'H200' },
      { id: 'w-2', attempt: 0, gpuModel: 'H200' },
      { id: 'w-3', attempt: 0, gpuModel: 'H200' },
    );
    const ended = await new EndLostRunsUseCase(transactions, workloads, partitions, endAttempt).execute({
      graceMs: GRACE_MS,
      limit: 100,
    });
    expect([...ended]).toEqual([
      ['H200', [{ workloadId: 'w-1', attempt: 0, gpuModel: 'H200', reason: LOST_RUN_REASON }]],
    ]);
    expect(workloads.rows.get('w-1')).toMatchObject({ state: 'failed', endReason: LOST_RUN_REASON });
    expect(workloads.rows.get('w-3')?.state).toBe('running');
    // The hold keeps the walltime it may have run (8 GPUs × 3600 s, less the 100 metered) for its meter.
    expect(holds.get({ workloadId: 'w-1', attempt: 0 })).toMatchObject({
      remainingGpuSeconds: 8n * 3600n - 100n,
      refundReason: LOST_RUN_REASON,
      refundedGpuSeconds: 100n,
    });
    expect(steps[0]).toBe('lock partition H200');
    expect(transactions.runs).toEqual([{ options: { isolation: 'READ COMMITTED' }, outcome: 'committed' }]);
  });
});

describe('StopAllocationWorkloadsUseCase', () => {
  it('ends the allocation’s running work one partition at a time, and is a no-op when repeated', async () => {
    const { transactions, workloads, partitions, endAttempt, steps } = workloadHarness();
    workloads.add(
      makeWorkload({ id: 'w-1', state: 'running', gpuModel: 'H200' }),
      makeWorkload({ id: 'w-2', state: 'admitted', gpuModel: 'B200' }),
      makeWorkload({ id: 'w-3', state: 'queued', gpuModel: 'H200' }),
      makeWorkload({ id: 'w-4', state: 'running', allocationId: 'a-2' }),
    );
    const stop = new StopAllocationWorkloadsUseCase(transactions, workloads, partitions, endAttempt);
    const stopped = await stop.execute('a-1', 'allocation exhausted');
    expect(stopped).toEqual([
      { workloadId: 'w-2', attempt: 0, gpuModel: 'B200', reason: 'allocation exhausted' },
      { workloadId: 'w-1', attempt: 0, gpuModel: 'H200', reason: 'allocation exhausted' },
    ]);
    expect(steps.filter((step) => step.startsWith('lock partition'))).toEqual([
      'lock partition B200',
      'lock partition H200',
    ]);
    expect(transactions.runs).toHaveLength(2);
    expect(workloads.rows.get('w-3')?.state).toBe('queued');
    expect(workloads.rows.get('w-4')?.state).toBe('running');
    await expect(stop.execute('a-1', 'allocation exhausted')).resolves.toEqual([]);
  });
});
