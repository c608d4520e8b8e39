import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { user, workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { CancelWorkloadUseCase } from './cancel-workload.use-case.js';

function setUp() {
  const harness = workloadHarness();
  harness.memberships.add('p-1', 'u-1');
  const { transactions, workloads, partitions, check, endAttempt, audit, producer } = harness;
  const cancel = new CancelWorkloadUseCase(
    transactions,
    workloads,
    partitions,
    check,
    endAttempt,
    audit,
    producer.asProducer(),
  );
  return { ...harness, cancel };
}

const actor = { principal: user(), requestId: 'r-1' };

describe('CancelWorkloadUseCase', () => {
  it('cancels a queued workload: no hold to settle, no cluster to tell, a cycle to run', async () => {
    const { cancel, workloads, ledger, producer, audit, steps } = setUp();
    workloads.add(makeWorkload({ state: 'queued' }));
    await cancel.execute(actor, 'w-1');
    expect(workloads.rows.get('w-1')).toMatchObject({
      state: 'cancelled',
      endReason: 'cancelled by u-1@example.kr',
    });
    expect(ledger.posted).toEqual([]);
    expect(producer.jobs).toEqual([{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]);
    expect(audit.events).toMatchObject([
      {
        action: 'workload.cancelled',
        before: { state: 'queued', attempt: 0 },
        after: { state: 'cancelled', reason: 'cancelled by u-1@example.kr' },
        requestId: 'r-1',
      },
    ]);
    expect(steps.slice(0, 2)).toEqual(['lock partition H200', 'lock workload w-1']);
  });

  it.each(['admitted', 'running'])(
    'cancels a %s workload: GPUs released, hold closed, the cluster told to stop',
    async (state) => {
      const { cancel, workloads, holds, ledger, producer, steps } = setUp();
      const startedAt = state === 'running' ? new Date(Date.now() - 600_000) : null;
      workloads.add(makeWorkload({ state, attempt: 1, heldGpuSeconds: 8n * 3600n, startedAt }));
      holds.add({
        workloadId: 'w-1',
        attempt: 1,
        heldGpuSeconds: 8n * 3600n,
        remainingGpuSeconds: 8n * 3600n,
      });
      await cancel.execute(actor, 'w-1');
      expect(workloads.rows.get('w-1')?.state).toBe('cancelled');
      expect(holds.get({ workloadId: 'w-1', attempt: 1 })?.endedAt).not.toBeNull();
      expect(ledger.kinds()).toEqual(['release']);
      expect(producer.jobs).toEqual([
        {
          name: 'dispatch.cancel',
          data: { workloadId: 'w-1', attempt: 1, reason: 'cancelled by u-1@example.kr' },
        },
        { name: 'schedule.cycle', data: { gpuModel: 'H200' } },
      ]);
      expect(steps).toEqual([
        'lock partition H200',
        'lock workload w-1',
        'release placements w-1',
        'lock hold w-1:1',
        'post release:w-1:1:end',
        'close hold w-1:1',
        'end workload w-1 cancelled',
        'mark dirty H200',
      ]);
    },
  );

  it.each(['succeeded', 'failed', 'cancelled', 'preempted'])(
    'refuses to cancel a %s workload and changes nothing',
    async (state) => {
      const { cancel, workloads, producer, audit, transactions } = setUp();
      workloads.add(makeWorkload({ state }));
      await expect(cancel.execute(actor, 'w-1')).rejects.toMatchObject({
        kind: 'conflict',
        code: 'ILLEGAL_TRANSITION',
        details: { state, action: 'cancel' },
      });
      expect(workloads.rows.get('w-1')?.state).toBe(state);
      expect(audit.events).toEqual([]);
      expect(producer.jobs).toEqual([]);
      expect(transactions.runs).toEqual([{ options: {}, outcome: 'rolled back' }]);
    },
  );

  it('answers 404 to someone outside the project, operators included, and lets admins cancel', async () => {
    const { cancel, workloads, steps } = setUp();
    workloads.add(makeWorkload());
    for (const principal of [user('u-2'), user('u-3', ['operator'])]) {
      await expect(cancel.execute({ principal, requestId: null }, 'w-1')).rejects.toMatchObject({
        kind: 'not_found',
        message: expect.stringContaining('Workload w-1') as unknown,
      });
    }
    expect(steps).toEqual([]);
    await expect(
      cancel.execute({ principal: user('u-9', ['admin']), requestId: null }, 'w-1'),
    ).resolves.toBeUndefined();
    expect(workloads.rows.get('w-1')?.endReason).toBe('cancelled by u-9@example.kr');
    await expect(cancel.execute(actor, 'w-404')).rejects.toMatchObject({ kind: 'not_found' });
  });
});
