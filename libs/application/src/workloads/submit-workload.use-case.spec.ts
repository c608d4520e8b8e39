import { DomainError, type RuleViolation } from '#domain';
import { makeAllocation } from '../../../../test/fakes/workloads.fakes.js';
import { agentToken, user, workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { SubmitBatchUseCase } from './submit-batch.use-case.js';
import { SubmitWorkloadUseCase } from './submit-workload.use-case.js';
import type { WorkloadSpec } from './workload-commands.js';

const HOUR = 3600;
const spec = (fields: Partial<WorkloadSpec> = {}): WorkloadSpec => ({
  allocationId: 'a-1',
  gpuModel: 'H200',
  gpus: 8,
  walltimeSeconds: 2 * HOUR,
  name: 'train',
  ...fields,
});

function setUp() {
  const harness = workloadHarness();
  harness.workloads.allocations.set('a-1', makeAllocation());
  harness.memberships.add('p-1', 'u-1');
  harness.ledger.balanceOf.set('allocation:a-1', 1000n * BigInt(HOUR));
  const { transactions, check, workloads, partitions, audit, producer } = harness;
  return {
    ...harness,
    submit: new SubmitWorkloadUseCase(
      transactions,
      check,
      workloads,
      partitions,
      audit,
      producer.asProducer(),
    ),
    submitBatch: new SubmitBatchUseCase(
      transactions,
      check,
      workloads,
      partitions,
      audit,
      producer.asProducer(),
    ),
  };
}

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

describe('SubmitWorkloadUseCase', () => {
  it('queues the workload, marks its partition dirty, audits it and triggers a cycle after commit', async () => {
    const { submit, workloads, partitions, audit, producer, transactions } = setUp();
    const row = await submit.execute(
      { principal: user(), requestId: 'r-1' },
      spec({ simulatedRuntimeSeconds: 60 }),
    );
    expect(row).toMatchObject({
      state: 'queued',
      allocationId: 'a-1',
      projectId: 'p-1',
      programId: 'g-1',
      priorityTier: 2,
      submittedBy: 'u-1',
      simulatedRuntimeSeconds: 60,
      attempt: 0,
    });
    expect(row.createdAt).toEqual(row.queuedAt);
    expect(workloads.rows.get(row.id)?.state).toBe('queued');
    expect(partitions.dirty).toEqual(['H200']);
    expect(audit.events).toMatchObject([
      { action: 'workload.submitted', subjectType: 'workload', subjectId: row.id, requestId: 'r-1' },
    ]);
    expect(producer.jobs).toEqual([{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]);
    expect(transactions.runs).toEqual([{ options: {}, outcome: 'committed' }]);
  });

  it('keeps the queued workload when the cycle trigger cannot be enqueued (the reconciler finds it)', async () => {
    const { submit, workloads, producer } = setUp();
    producer.failing = true;
    const row = await submit.execute({ principal: user(), requestId: null }, spec());
    expect(workloads.rows.has(row.id)).toBe(true);
  });

  it('answers 404 for an allocation the caller may not act for, and for one that does not exist', async () => {
    const { submit, workloads, producer } = setUp();
    for (const principal of [user('u-2'), user('u-3', ['operator'])]) {
      const error = await refusal(submit.execute({ principal, requestId: null }, spec()));
      expect(error).toMatchObject({ kind: 'not_found' });
      expect(error.message).toContain('Allocation a-1');
    }
    await expect(
      submit.execute({ principal: user(), requestId: null }, spec({ allocationId: 'a-404' })),
    ).rejects.toMatchObject({ kind: 'not_found' });
    expect(workloads.rows.size).toBe(0);
    expect(producer.jobs).toEqual([]);
  });

  it('lets admins submit for any project, and refuses API tokens', async () => {
    const { submit } = setUp();
    await expect(
      submit.execute({ principal: user('u-9', ['admin']), requestId: null }, spec()),
    ).resolves.toMatchObject({
      submittedBy: 'u-9',
    });
    await expect(submit.execute({ principal: agentToken(), requestId: null }, spec())).rejects.toMatchObject({
      kind: 'forbidden',
      code: 'USER_REQUIRED',
    });
  });

  it('refuses a workload beyond the quota left, with nothing written or enqueued', async () => {
    const { submit, ledger, workloads, producer, transactions, audit } = setUp();
    ledger.balanceOf.set('allocation:a-1', 8n * BigInt(HOUR));
    const error = await refusal(submit.execute({ principal: user(), requestId: null }, spec()));
    expect(error).toMatchObject({ kind: 'rule_violated', code: 'INSUFFICIENT_QUOTA' });
    expect(workloads.rows.size).toBe(0);
    expect(audit.events).toEqual([]);
    expect(producer.jobs).toEqual([]);
    expect(transactions.runs).toEqual([{ options: {}, outcome: 'rolled back' }]);
  });

  it('refuses more GPUs than the concurrency cap, and an allocation that is not active yet or any more', async () => {
    const { submit, workloads } = setUp();
    workloads.allocations.set('a-1', makeAllocation({ maxConcurrentGpus: 4 }));
    await expect(submit.execute({ principal: user(), requestId: null }, spec())).rejects.toMatchObject({
      code: 'EXCEEDS_CONCURRENCY_CAP',
    });
    workloads.allocations.set('a-1', makeAllocation({ status: 'suspended' }));
    await expect(submit.execute({ principal: user(), requestId: null }, spec())).rejects.toMatchObject({
      code: 'ALLOCATION_NOT_ACTIVE',
    });
    workloads.allocations.set('a-1', makeAllocation({ startsAt: new Date(Date.now() + 86_400_000) }));
    await expect(submit.execute({ principal: user(), requestId: null }, spec())).rejects.toMatchObject({
      code: 'ALLOCATION_NOT_ACTIVE',
    });
  });

  it('refuses gang sizes the pool cannot place, naming every rule broken', async () => {
    const { submit, placements } = setUp();
    // 12 GPUs on 8-GPU servers is neither one server nor whole servers.
    await expect(
      submit.execute({ principal: user(), requestId: null }, spec({ gpus: 12 })),
    ).rejects.toMatchObject({
      code: 'NO_PLACEMENT_POSSIBLE',
    });
    placements.limits = { gpusPerNode: null, domains: [] };
    const error = await refusal(
      submit.execute({ principal: user(), requestId: null }, spec({ gpuModel: 'B200', gpus: 128 })),
    );
    expect(error.code).toBe('GPU_MODEL_NOT_IN_ALLOCATION');
    expect((error.details as RuleViolation[]).map((violation) => violation.rule)).toEqual([
      'GPU_MODEL_NOT_IN_ALLOCATION',
      'EXCEEDS_CONCURRENCY_CAP',
      'NO_PLACEMENT_POSSIBLE',
    ]);
    expect(error.message).toMatch(/^The workload breaks 3 rules and was not queued: /);
  });

  it('reads a model’s placement limits once within their few seconds of reuse', async () => {
    const { submit, placements } = setUp();
    await submit.execute({ principal: user(), requestId: null }, spec());
    await submit.execute({ principal: user(), requestId: null }, spec());
    expect(placements.limitReads).toBe(1);
  });
});

describe('SubmitBatchUseCase', () => {
  it('queues count elements named <name>[i] with one audit event and one cycle trigger', async () => {
    const { submitBatch, workloads, audit, producer, partitions } = setUp();
    const batch = await submitBatch.execute(
      { principal: user(), requestId: null },
      { ...spec({ gpus: 1 }), count: 3 },
    );
    expect(batch.ids).toHaveLength(3);
    expect(batch.ids.map((id) => workloads.rows.get(id)?.name)).toEqual(['train[0]', 'train[1]', 'train[2]']);
    expect(batch.ids.every((id) => workloads.rows.get(id)?.batchId === batch.batchId)).toBe(true);
    expect(audit.events).toMatchObject([
      {
        action: 'workload.batch_submitted',
        subjectType: 'workload_batch',
        subjectId: batch.batchId,
        after: { count: 3 },
      },
    ]);
    expect(partitions.dirty).toEqual(['H200']);
    expect(producer.jobs).toEqual([{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]);
  });

  it('checks the quota for one element, not for the whole sweep', async () => {
    const { submitBatch, ledger, workloads } = setUp();
    ledger.balanceOf.set('allocation:a-1', 8n * 2n * BigInt(HOUR));
    const batch = await submitBatch.execute({ principal: user(), requestId: null }, { ...spec(), count: 10 });
    expect(workloads.rows.size).toBe(10);
    expect(batch.ids).toHaveLength(10);
    ledger.balanceOf.set('allocation:a-1', 8n * 2n * BigInt(HOUR) - 1n);
    await expect(
      submitBatch.execute({ principal: user(), requestId: null }, { ...spec(), count: 1 }),
    ).rejects.toMatchObject({ code: 'INSUFFICIENT_QUOTA' });
  });
});
