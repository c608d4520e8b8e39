import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import {
  EndLostRunsUseCase,
  FORGOTTEN_RUN_REASON,
  LOST_RUN_REASON,
  UNCONFIRMED_RUN_REASON,
} from './end-lost-runs.use-case.js';
import { StopAllocationWorkloadsUseCase } from './stop-allocation-workloads.use-case.js';

const GRACE_MS = 60_000;

describe('EndLostRunsUseCase', () => {
  it('re-reads candidates under the partition lock and ends only runs still lost, refunding them', async () => {
    const { transactions, workloads, partitions, endAttempt, holds, heartbeats, steps } = workloadHarness();
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
    const ended = await new EndLostRunsUseCase(
      transactions,
      workloads,
      partitions,
      endAttempt,
      heartbeats,
    ).execute({ graceMs: GRACE_MS, heartbeatTimeoutMs: null, limit: 100 });
    expect([...ended]).toEqual([
      [
        'H200',
        [{ workloadId: 'w-1', attempt: 0, gpuModel: 'H200', reason: LOST_RUN_REASON, outcome: 'failed' }],
      ],
    ]);
    // The fakes' program requeues nothing: the run fails, and says why it was not requeued.
    expect(workloads.rows.get('w-1')).toMatchObject({
      state: 'failed',
      endReason: `${LOST_RUN_REASON} (not requeued: the program does not requeue workloads)`,
    });
    expect(workloads.rows.get('w-3')?.state).toBe('running');
    // Nothing stays held for a meter: what the lost run metered is refunded, and so will later records be.
    expect(holds.get({ workloadId: 'w-1', attempt: 0 })).toMatchObject({
      remainingGpuSeconds: 0n,
      releaseAfter: null,
      refundReason: LOST_RUN_REASON,
      refundedGpuSeconds: 100n,
    });
    expect(steps[0]).toBe('lock partition H200');
    expect(transactions.runs).toEqual([{ options: { isolation: 'READ COMMITTED' }, outcome: 'committed' }]);
  });
});

describe('EndLostRunsUseCase with heartbeats', () => {
  const TIMEOUT_MS = 60_000;

  it('ends a run no heartbeat confirmed within the timeout, and spares one confirmed since the candidates were read', async () => {
    const { transactions, workloads, partitions, endAttempt, holds, heartbeats } = workloadHarness();
    const now = workloads.now;
    const twoMinutesAgo = new Date(now.getTime() - 120_000);
    workloads.add(
      makeWorkload({ id: 'w-1', state: 'running', dispatchedAt: twoMinutesAgo, startedAt: twoMinutesAgo }),
      makeWorkload({ id: 'w-2', state: 'running', dispatchedAt: twoMinutesAgo, startedAt: twoMinutesAgo }),
      // Confirmed, but for its previous attempt: that does not vouch for this one.
      makeWorkload({
        id: 'w-3',
        attempt: 1,
        state: 'admitted',
        dispatchedAt: twoMinutesAgo,
        startedAt: null,
      }),
    );
    holds.add({ workloadId: 'w-1', attempt: 0, remainingGpuSeconds: 8n * 3600n });
    heartbeats.confirmations.set('w-2', { attempt: 0, confirmedAt: new Date(now.getTime() - 5_000) });
    heartbeats.confirmations.set('w-3', { attempt: 0, confirmedAt: new Date(now.getTime() - 5_000) });
    heartbeats.unconfirmed.push(
      { id: 'w-1', attempt: 0, gpuModel: 'H200' },
      { id: 'w-2', attempt: 0, gpuModel: 'H200' },
      { id: 'w-3', attempt: 1, gpuModel: 'H200' },
    );
    const ended = await new EndLostRunsUseCase(
      transactions,
      workloads,
      partitions,
      endAttempt,
      heartbeats,
    ).execute({ graceMs: GRACE_MS, heartbeatTimeoutMs: TIMEOUT_MS, limit: 100 });
    expect(ended.get('H200')?.map((stopped) => [stopped.workloadId, stopped.reason])).toEqual([
      ['w-1', UNCONFIRMED_RUN_REASON],
      ['w-3', UNCONFIRMED_RUN_REASON],
    ]);
    expect(workloads.rows.get('w-2')?.state).toBe('running');
    // Released at once, not kept an hour for a meter that would be refunded.
    expect(holds.get({ workloadId: 'w-1', attempt: 0 })).toMatchObject({
      remainingGpuSeconds: 0n,
      refundReason: UNCONFIRMED_RUN_REASON,
    });
  });

  it('ends the runs a restarted agent forgot, unless they ended or moved to another attempt meanwhile', async () => {
    const { transactions, workloads, partitions, endAttempt, heartbeats } = workloadHarness();
    const started = new Date(workloads.now.getTime() - 10_000);
    workloads.add(
      makeWorkload({ id: 'w-1', state: 'running', dispatchedAt: started, startedAt: started }),
      makeWorkload({ id: 'w-2', state: 'succeeded', dispatchedAt: started, startedAt: started }),
      makeWorkload({ id: 'w-3', attempt: 2, state: 'running', dispatchedAt: started, startedAt: started }),
    );
    const ended = await new EndLostRunsUseCase(
      transactions,
      workloads,
      partitions,
      endAttempt,
      heartbeats,
    ).endForgotten([
      { id: 'w-1', attempt: 0, gpuModel: 'H200' },
      { id: 'w-2', attempt: 0, gpuModel: 'H200' },
      { id: 'w-3', attempt: 1, gpuModel: 'H200' },
    ]);
    expect(ended.get('H200')?.map((stopped) => stopped.workloadId)).toEqual(['w-1']);
    expect(workloads.rows.get('w-1')).toMatchObject({
      state: 'failed',
      endReason: expect.stringMatching(
        /^lost: the cluster agent restarted without it \(not requeued/,
      ) as unknown,
    });
    expect(workloads.rows.get('w-3')?.state).toBe('running');
    expect(FORGOTTEN_RUN_REASON).toBe('lost: the cluster agent restarted without it');
  });

  it('requeues a lost run with its age while its program allows, its attempt refunded and released', async () => {
    const { transactions, workloads, partitions, endAttempt, holds, heartbeats } = workloadHarness();
    const twoMinutesAgo = new Date(workloads.now.getTime() - 120_000);
    const queuedAt = new Date('2026-05-30T00:00:00Z');
    workloads.add(
      makeWorkload({
        id: 'w-1',
        programId: 'p-1',
        state: 'running',
        queuedAt,
        dispatchedAt: twoMinutesAgo,
        startedAt: twoMinutesAgo,
      }),
    );
    workloads.requeueLimits.set('p-1', 3);
    holds.add({ workloadId: 'w-1', attempt: 0, remainingGpuSeconds: 8n * 3600n, meteredGpuSeconds: 50n });
    heartbeats.unconfirmed.push({ id: 'w-1', attempt: 0, gpuModel: 'H200' });
    const ended = await new EndLostRunsUseCase(
      transactions,
      workloads,
      partitions,
      endAttempt,
      heartbeats,
    ).execute({ graceMs: GRACE_MS, heartbeatTimeoutMs: TIMEOUT_MS, limit: 100 });
    expect(ended.get('H200')).toEqual([
      {
        workloadId: 'w-1',
        attempt: 0,
        gpuModel: 'H200',
        reason: UNCONFIRMED_RUN_REASON,
        outcome: 'requeued',
      },
    ]);
    expect(workloads.rows.get('w-1')).toMatchObject({
      state: 'queued',
      attempt: 1,
      queuedAt,
      infrastructureRequeues: 1,
      endReason: `${UNCONFIRMED_RUN_REASON} (requeued, 1 of at most 3)`,
    });
    expect(holds.get({ workloadId: 'w-1', attempt: 0 })).toMatchObject({
      remainingGpuSeconds: 0n,
      refundReason: UNCONFIRMED_RUN_REASON,
      refundedGpuSeconds: 50n,
    });
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
