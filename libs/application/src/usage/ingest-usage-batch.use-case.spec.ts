import {
  usageRecordKey,
  type Principal,
  type StoredUsageRecord,
  type UsageAllocationFacts,
  type UsageWorkloadFacts,
} from '#domain';
import { UsageBatchRepository, type Tx, type UsageBatchView } from '#persistence';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { IngestUsageBatchUseCase, type UsageRecordSubmission } from './ingest-usage-batch.use-case.js';

/** usage_records in memory: the unique (source, externalId) key, as ON CONFLICT DO NOTHING keeps it. */
class FakeBatchRepository extends UsageBatchRepository {
  readonly allocations = new Map<string, UsageAllocationFacts>();
  readonly workloads = new Map<string, UsageWorkloadFacts>();
  readonly stored = new Map<string, StoredUsageRecord>();
  readonly batches = new Map<
    string,
    { tokenId: string | null; recordCount: number; acceptedCount: number }
  >();

  override allocationFacts(ids: string[]) {
    return Promise.resolve(
      new Map(ids.flatMap((id) => (this.allocations.has(id) ? [[id, this.allocations.get(id)!]] : []))),
    );
  }
  override workloadFacts(ids: string[]) {
    return Promise.resolve(
      new Map(ids.flatMap((id) => (this.workloads.has(id) ? [[id, this.workloads.get(id)!]] : []))),
    );
  }
  override insertBatch(_tx: Tx, tokenId: string | null, recordCount: number) {
    const id = `batch-${this.batches.size + 1}`;
    this.batches.set(id, { tokenId, recordCount, acceptedCount: 0 });
    return Promise.resolve(id);
  }
  override insertRecords(_tx: Tx, _batchId: string, records: readonly StoredUsageRecord[]) {
    const inserted = new Set<string>();
    for (const record of records) {
      const key = usageRecordKey(record.source, record.externalId);
      if (this.stored.has(key)) continue;
      this.stored.set(key, record);
      inserted.add(key);
    }
    return Promise.resolve(inserted);
  }
  override storedRecords(_tx: Tx, records: readonly StoredUsageRecord[]) {
    const keys = records.map((r) => usageRecordKey(r.source, r.externalId));
    return Promise.resolve(
      new Map(keys.flatMap((key) => (this.stored.has(key) ? [[key, this.stored.get(key)!]] : []))),
    );
  }
  override setAcceptedCount(_tx: Tx, batchId: string, acceptedCount: number) {
    this.batches.get(batchId)!.acceptedCount = acceptedCount;
    return Promise.resolve();
  }
  override deleteBatch(_tx: Tx, batchId: string) {
    this.batches.delete(batchId);
    return Promise.resolve();
  }
  override findBatch(): Promise<UsageBatchView | null> {
    return Promise.resolve(null);
  }
  override unpostedBatchIds() {
    return Promise.resolve([]);
  }
}

const ALLOCATION = '00000000-0000-4000-8000-00000000000a';
const WORKLOAD = '00000000-0000-4000-8000-0000000000f1';
const NOW = new Date('2026-03-02T12:00:00Z');
const AGENT: Principal = { kind: 'api_token', tokenId: 'token-1', scopes: ['usage:write'], createdBy: 'u' };

function submission(
  externalId: string,
  overrides: Partial<UsageRecordSubmission> = {},
): UsageRecordSubmission {
  return {
    source: 'agent',
    externalId,
    allocationId: ALLOCATION,
    workloadId: null,
    gpuModel: 'H200',
    gpus: 2,
    startedAt: new Date('2026-03-02T10:00:00Z'),
    endedAt: new Date('2026-03-02T10:10:00Z'),
    ...overrides,
  };
}

function setup() {
  const batches = new FakeBatchRepository();
  batches.allocations.set(ALLOCATION, {
    allocationId: ALLOCATION,
    gpuModel: 'H200',
    startsAt: new Date('2026-01-01T00:00:00Z'),
    endsAt: new Date('2027-01-01T00:00:00Z'),
    status: 'active',
  });
  batches.workloads.set(WORKLOAD, { id: WORKLOAD, allocationId: ALLOCATION });
  const producer = new FakeJobProducer();
  const useCase = new IngestUsageBatchUseCase(new FakeTransactionRunner(), batches, producer);
  const ingest = (records: UsageRecordSubmission[]) =>
    useCase.execute({ principal: AGENT, records, futureToleranceMs: 300_000, now: NOW });
  return { batches, producer, ingest };
}

describe('IngestUsageBatchUseCase', () => {
  it('rejects bad records by index with the domain reason and stores the rest under the sending token', async () => {
    const { batches, producer, ingest } = setup();
    const outcome = await ingest([
      submission('r1'),
      submission('r2', { gpuModel: 'A100' }),
      submission('r3', { allocationId: '00000000-0000-4000-8000-0000000000ff' }),
      submission('r4', { endedAt: new Date('2026-03-02T09:00:00Z') }),
      submission('r5', { workloadId: WORKLOAD, attempt: 1 }),
    ]);
    expect(outcome.accepted).toBe(2);
    expect(outcome.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, 'GPU_MODEL_MISMATCH'],
      [2, 'UNKNOWN_ALLOCATION'],
      [3, 'END_NOT_AFTER_START'],
    ]);
    expect(outcome.batchId).toBe('batch-1');
    expect(batches.batches.get('batch-1')).toEqual({ tokenId: 'token-1', recordCount: 2, acceptedCount: 2 });
    expect(batches.stored.get(usageRecordKey('agent', 'r5'))).toMatchObject({
      attempt: 1,
      gpuSeconds: 1200n,
    });
    expect(producer.jobs).toEqual([{ name: 'usage.post', data: { batchId: 'batch-1' } }]);
  });

  it('stores nothing and enqueues nothing when every record is rejected', async () => {
    const { batches, producer, ingest } = setup();
    const outcome = await ingest([submission('r1', { gpus: 0 })]);
    expect(outcome).toMatchObject({ accepted: 0, duplicates: 0, batchId: null });
    expect(batches.batches.size).toBe(0);
    expect(producer.jobs).toEqual([]);
  });

  it('counts a re-send once: duplicates keep no batch row and enqueue no posting', async () => {
    const { batches, producer, ingest } = setup();
    await ingest([submission('r1'), submission('r2')]);
    producer.jobs.length = 0;

    const again = await ingest([submission('r1'), submission('r2')]);
    expect(again).toEqual({ accepted: 0, duplicates: 2, rejected: [], batchId: null });
    expect([...batches.batches.keys()]).toEqual(['batch-1']);
    expect(producer.jobs).toEqual([]);
  });

  it('counts a record repeated within one batch once', async () => {
    const { ingest } = setup();
    const outcome = await ingest([submission('r1'), submission('r1')]);
    expect(outcome).toMatchObject({ accepted: 1, duplicates: 1, rejected: [] });
  });

  it('refuses a re-send with different content as CONFLICTING_DUPLICATE, at its index among the records sent', async () => {
    const { batches, ingest } = setup();
    await ingest([submission('r1')]);
    const outcome = await ingest([
      submission('bad', { gpus: 0 }),
      submission('r1', { gpus: 4 }),
      submission('r9'),
    ]);
    expect(outcome.accepted).toBe(1);
    expect(outcome.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, 'INVALID_GPUS'],
      [1, 'CONFLICTING_DUPLICATE'],
    ]);
    expect(outcome.rejected[1].message).toContain(
      'agent/r1 was stored before with different content (2 GPUs',
    );
    expect(batches.stored.get(usageRecordKey('agent', 'r1'))?.gpus).toBe(2);
  });

  it('answers with the stored batch when the posting job cannot be enqueued (the usage sweep finds it)', async () => {
    const { producer, ingest } = setup();
    producer.failing = true;
    await expect(ingest([submission('r1')])).resolves.toMatchObject({ accepted: 1, batchId: 'batch-1' });
  });
});
