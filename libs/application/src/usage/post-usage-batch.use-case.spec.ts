import {
  allocationAccount,
  consumedAccount,
  holdAccount,
  type AttemptHold,
  type DailyUsageBucket,
  type HoldUpdate,
  type PostingRecord,
} from '#domain';
import { UsagePostingRepository, type LockedUsageAllocation, type Tx } from '#persistence';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import { FakeLedger } from '../../../../test/fakes/ledger.fake.js';
import { FakeNotifications } from '../../../../test/fakes/notifications.fake.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import type { StopAllocationWorkloadsUseCase } from '../workloads/stop-allocation-workloads.use-case.js';
import { PostUsageBatchUseCase } from './post-usage-batch.use-case.js';

class FakePostingRepository extends UsagePostingRepository {
  readonly calls: string[] = [];
  readonly batches = new Map<string, { posted: boolean; records: PostingRecord[] }>();
  readonly allocations = new Map<string, LockedUsageAllocation>();
  readonly holds = new Map<string, AttemptHold[]>();
  readonly holdUpdates: HoldUpdate[] = [];
  readonly daily: DailyUsageBucket[] = [];
  readonly exhausted = new Map<string, string>();

  override lockBatch(_tx: Tx, batchId: string) {
    this.calls.push('lockBatch');
    const batch = this.batches.get(batchId);
    return Promise.resolve(batch ? { posted: batch.posted } : null);
  }
  override batchRecords(_tx: Tx, batchId: string) {
    this.calls.push('batchRecords');
    return Promise.resolve(this.batches.get(batchId)!.records);
  }
  override lockAllocations(_tx: Tx, ids: string[]) {
    this.calls.push(`lockAllocations:${ids.join(',')}`);
    return Promise.resolve(new Map(ids.map((id) => [id, this.allocations.get(id)!])));
  }
  override lockWorkloads(_tx: Tx, workloadIds: string[]) {
    this.calls.push(`lockWorkloads:${workloadIds.join(',')}`);
    return Promise.resolve();
  }
  override lockHolds(_tx: Tx, workloadIds: string[]) {
    this.calls.push(`lockHolds:${workloadIds.join(',')}`);
    return Promise.resolve(
      new Map(workloadIds.flatMap((id) => (this.holds.has(id) ? [[id, this.holds.get(id)!]] : []))),
    );
  }
  override applyHoldUpdates(_tx: Tx, updates: readonly HoldUpdate[]) {
    this.calls.push('applyHoldUpdates');
    this.holdUpdates.push(...updates);
    return Promise.resolve();
  }
  override addWorkloadConsumed() {
    this.calls.push('addWorkloadConsumed');
    return Promise.resolve();
  }
  override addDailyRollups(_tx: Tx, buckets: DailyUsageBucket[]) {
    this.calls.push('addDailyRollups');
    this.daily.push(...buckets);
    return Promise.resolve();
  }
  override markPosted(_tx: Tx, batchId: string) {
    this.calls.push('markPosted');
    this.batches.get(batchId)!.posted = true;
    return Promise.resolve();
  }
  override markExhausted(_tx: Tx, allocationId: string, reason: string) {
    this.exhausted.set(allocationId, reason);
    return Promise.resolve();
  }
}

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const W = '00000000-0000-4000-8000-0000000000f1';

function allocation(id: string, granted: bigint, onExhaustion = 'finish'): LockedUsageAllocation {
  return {
    id,
    projectId: 'p',
    programId: 'prog',
    gpuModel: 'H200',
    status: 'active',
    endsAt: new Date('2030-01-01T00:00:00Z'),
    onExhaustion,
    granted,
  };
}

function record(allocationId: string, gpuSeconds: number, workloadId: string | null = null): PostingRecord {
  const startedAt = new Date('2026-03-02T03:00:00Z');
  return {
    allocationId,
    workloadId,
    attempt: null,
    gpus: 1,
    startedAt,
    endedAt: new Date(startedAt.getTime() + gpuSeconds * 1000),
    gpuSeconds: BigInt(gpuSeconds),
  };
}

function setup() {
  const repository = new FakePostingRepository();
  const ledger = new FakeLedger();
  const notifications = new FakeNotifications();
  const producer = new FakeJobProducer();
  const stopped: string[] = [];
  const stop = {
    execute: (allocationId: string, reason: string) => {
      stopped.push(allocationId);
      return Promise.resolve([{ workloadId: W, attempt: 0, gpuModel: 'H200', reason }]);
    },
  } as unknown as StopAllocationWorkloadsUseCase;
  const transactions = new FakeTransactionRunner();
  const useCase = new PostUsageBatchUseCase(transactions, repository, ledger, notifications, stop, producer);
  const grant = (id: string, gpuSeconds: bigint, onExhaustion = 'finish') => {
    repository.allocations.set(id, allocation(id, gpuSeconds, onExhaustion));
    ledger.seed(allocationAccount(id), gpuSeconds);
  };
  return { repository, ledger, notifications, producer, stopped, transactions, useCase, grant };
}

describe('PostUsageBatchUseCase', () => {
  it('locks the batch, then the allocations in id order, then the holds, and writes in one transaction', async () => {
    const { repository, transactions, useCase, grant } = setup();
    grant(A, 36_000n);
    grant(B, 36_000n);
    repository.batches.set('b1', { posted: false, records: [record(B, 100, W), record(A, 50)] });

    await expect(useCase.post('b1')).resolves.toMatchObject({ posted: true, records: 2 });
    expect(repository.calls).toEqual([
      'lockBatch',
      'batchRecords',
      `lockAllocations:${A},${B}`,
      `lockWorkloads:${W}`,
      `lockHolds:${W}`,
      'applyHoldUpdates',
      'addWorkloadConsumed',
      'addDailyRollups',
      'markPosted',
    ]);
    expect(transactions.runs).toEqual([{ options: {}, outcome: 'committed' }]);
  });

  it('is a no-op for a batch already posted (a redelivered job) and for an unknown batch', async () => {
    const { repository, ledger, producer, useCase, grant } = setup();
    grant(A, 36_000n);
    repository.batches.set('b1', { posted: false, records: [record(A, 500)] });
    await useCase.execute('b1');
    const postings = ledger.posted.length;

    await expect(useCase.execute('b1')).resolves.toEqual({ posted: false, records: 0 });
    await expect(useCase.execute('missing')).resolves.toEqual({ posted: false, records: 0 });
    expect(ledger.posted).toHaveLength(postings);
    expect(ledger.balance(consumedAccount(A))).toBe(500n);
    expect(producer.jobs.filter((job) => job.name === 'webhook.deliver')).toHaveLength(0);
  });

  it('takes usage from the attempt hold first, the rest from the allocation', async () => {
    const { repository, ledger, useCase, grant } = setup();
    grant(A, 36_000n);
    ledger.seed(allocationAccount(A), 36_000n - 300n);
    ledger.seed(holdAccount(A), 300n);
    repository.holds.set(W, [
      { workloadId: W, attempt: 0, allocationId: A, remaining: 300n, since: new Date(0), refundReason: null },
    ]);
    repository.batches.set('b1', { posted: false, records: [record(A, 500, W)] });

    await useCase.post('b1');
    expect(ledger.balance(holdAccount(A))).toBe(0n);
    expect(ledger.balance(allocationAccount(A))).toBe(36_000n - 300n - 200n);
    expect(ledger.balance(consumedAccount(A))).toBe(500n);
    expect(repository.holdUpdates).toEqual([
      { workloadId: W, attempt: 0, taken: 300n, metered: 500n, refunded: 0n },
    ]);
  });

  it('refuses a batch whose postings are partly on the ledger already, and rolls back', async () => {
    const { repository, ledger, transactions, useCase, grant } = setup();
    grant(A, 36_000n);
    repository.batches.set('b1', { posted: false, records: [record(A, 500)] });
    await useCase.post('b1');
    repository.batches.get('b1')!.posted = false; // posted_at lost while the keys stayed: a bug
    expect(ledger.posted.length).toBeGreaterThan(0);

    await expect(useCase.post('b1')).rejects.toThrow(/partly posted already/);
    expect(transactions.runs.at(-1)).toEqual({ options: {}, outcome: 'rolled back' });
  });

  it('alerts on the highest threshold crossed once, and exhausts an allocation left with nothing', async () => {
    const { repository, notifications, producer, stopped, useCase, grant } = setup();
    grant(A, 1000n, 'stop');
    repository.batches.set('b1', { posted: false, records: [record(A, 600)] });
    repository.batches.set('b2', { posted: false, records: [record(A, 500)] });

    await useCase.execute('b1');
    expect(notifications.keys()).toEqual([`usage_threshold:${A}:50`]);
    expect(repository.exhausted.size).toBe(0);

    await useCase.execute('b2');
    expect(notifications.keys()).toEqual([
      `usage_threshold:${A}:50`,
      `usage_threshold:${A}:100`,
      `allocation_exhausted:${A}`,
    ]);
    expect(repository.exhausted.get(A)).toBe('exhausted: 1100 GPU-seconds consumed of 1000 granted');
    expect(stopped).toEqual([A]);
    expect(producer.jobs).toContainEqual({
      name: 'dispatch.cancel',
      data: {
        workloadId: W,
        attempt: 0,
        reason: 'allocation exhausted: its program stops running workloads',
      },
    });
    expect(producer.jobs).toContainEqual({ name: 'schedule.cycle', data: { gpuModel: 'H200' } });
  });

  it('lets running work finish when the program says so', async () => {
    const { repository, stopped, useCase, grant } = setup();
    grant(A, 1000n, 'finish');
    repository.batches.set('b1', { posted: false, records: [record(A, 1000)] });
    await useCase.execute('b1');
    expect(repository.exhausted.has(A)).toBe(true);
    expect(stopped).toEqual([]);
  });

  it('still answers posted when the deliveries cannot be enqueued (the webhook sweep sends them)', async () => {
    const { repository, producer, useCase, grant } = setup();
    grant(A, 1000n);
    repository.batches.set('b1', { posted: false, records: [record(A, 600)] });
    producer.failing = true;
    await expect(useCase.execute('b1')).resolves.toEqual({ posted: true, records: 1 });
  });
});
