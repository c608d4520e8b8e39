import type { DataSource } from 'typeorm';
import {
  holdTransaction,
  meteredGpuSeconds,
  METERING_GRACE_MS,
  type StoredUsageRecord,
} from '../../libs/domain/src/index.js';
import {
  accountBalances,
  createDataSource,
  lockPartition,
  postLedgerTransaction,
  WorkloadEntity,
  WorkloadHoldEntity,
} from '../../libs/persistence/src/index.js';
import {
  expireAllocations,
  postUsageBatch,
  reconcileUsageAndBalances,
  releaseStaleHolds,
  storeUsageBatch,
  usagePipeline,
} from '../support/usage-pipeline.js';
import type { PostUsageBatchUseCase } from '../../libs/application/src/index.js';
import type { JobItem, JobProducer } from '../../libs/queues/src/index.js';
import { seedQuotas, submitWorkloads, type QuotaFixture } from '../factories/pool-fixtures.js';
import { createTestDatabase } from '../support/database.js';
import { workloadUseCases } from '../support/workload-use-cases.js';

const MODEL = 'H200';
const HOUR = 3600;

/**
 * The usage pipeline against a real PostgreSQL: holds drawn on by usage, late meters, refunds,
 * thresholds that fire once, exhaustion under both program policies, expiry and stale holds.
 */
describe('usage posting (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  const jobs: JobItem[] = [];
  const producer = {
    enqueue: (job: JobItem) => {
      jobs.push(job);
      return Promise.resolve();
    },
    enqueueMany: (items: JobItem[]) => {
      jobs.push(...items);
      return Promise.resolve();
    },
  } as unknown as JobProducer;
  let usage: PostUsageBatchUseCase;
  let external = 0;

  beforeAll(async () => {
    database = await createTestDatabase('usage_posting');
    db = createDataSource({ url: database.url, poolSize: 4, applicationName: 'usage-posting-test' });
    await db.initialize();
    usage = usagePipeline(db, producer).post;
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  async function quota(
    grantedGpuHours: bigint,
    onExhaustion: 'finish' | 'stop' = 'finish',
  ): Promise<QuotaFixture> {
    const [q] = await seedQuotas(db, MODEL, [{ grantedGpuHours, maxConcurrentGpus: 64 }]);
    await db.query('UPDATE programs SET on_exhaustion = $2 WHERE id = $1', [q.programId, onExhaustion]);
    return q;
  }

  /** What the cycle does at admission: state, hold posting and the attempt's hold row. */
  async function admitted(q: QuotaFixture, gpus: number, walltimeSeconds: number): Promise<string> {
    const [id] = await submitWorkloads(db, MODEL, [
      { quota: q, gpus, walltimeSeconds, simulatedRuntimeSeconds: walltimeSeconds, name: 'w' },
    ]);
    const hold = BigInt(gpus * walltimeSeconds);
    await db.transaction(async (manager) => {
      await lockPartition(manager, MODEL);
      await postLedgerTransaction(
        manager,
        holdTransaction({ allocationId: q.allocationId, workloadId: id, attempt: 0, gpuSeconds: hold }),
      );
      const startedAt = new Date(Date.now() - 1000);
      await manager
        .getRepository(WorkloadEntity)
        .update(id, { state: 'running', admittedAt: startedAt, startedAt, heldGpuSeconds: hold });
      await manager.getRepository(WorkloadHoldEntity).insert({
        workloadId: id,
        attempt: 0,
        allocationId: q.allocationId,
        heldGpuSeconds: hold,
        remainingGpuSeconds: hold,
        admittedAt: startedAt,
        startedAt,
      });
    });
    return id;
  }

  function record(q: QuotaFixture, gpuSeconds: number, workloadId: string | null = null): StoredUsageRecord {
    // One GPU for gpuSeconds seconds, ending now.
    const endedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const startedAt = new Date(endedAt.getTime() - gpuSeconds * 1000);
    external += 1;
    return {
      source: 'usage-posting-test',
      externalId: `r${external}`,
      allocationId: q.allocationId,
      workloadId,
      attempt: workloadId ? 0 : null,
      gpuModel: MODEL,
      gpus: 1,
      startedAt,
      endedAt,
      gpuSeconds: meteredGpuSeconds(1, startedAt, endedAt),
      late: false,
    };
  }

  async function ingest(records: StoredUsageRecord[]): Promise<string> {
    const stored = await storeUsageBatch(db, null, records);
    expect(stored.accepted).toHaveLength(records.length);
    return stored.batchId!;
  }

  async function position(allocationId: string) {
    const b = await accountBalances(db.manager, [
      `allocation:${allocationId}`,
      `hold:${allocationId}`,
      `consumed:${allocationId}`,
    ]);
    return {
      remaining: b.get(`allocation:${allocationId}`)!,
      held: b.get(`hold:${allocationId}`)!,
      consumed: b.get(`consumed:${allocationId}`)!,
    };
  }

  async function end(id: string, runtimeSeconds: number | null, refundReason: string | null = null) {
    await db.transaction(async (manager) => {
      await lockPartition(manager, MODEL);
      const workload = await manager.getRepository(WorkloadEntity).findOneByOrFail({ id });
      await workloadUseCases(db).endAttempt.endWorkload(manager, workload, {
        state: refundReason ? 'failed' : 'succeeded',
        reason: refundReason ?? 'done',
        runtimeSeconds,
        at: new Date(),
        refundReason,
      });
    });
  }

  it('draws usage from the attempt hold first, keeps what the runtime explains held at the end, and takes a late meter from it', async () => {
    const q = await quota(100n);
    const granted = 100n * 3600n;
    const id = await admitted(q, 2, HOUR);
    expect(await position(q.allocationId)).toEqual({ remaining: granted - 7200n, held: 7200n, consumed: 0n });

    // 1,000 GPU-seconds metered while it runs: from the hold.
    expect((await postUsageBatch(db, await ingest([record(q, 1000, id)]))).posted).toBe(true);
    expect(await position(q.allocationId)).toEqual({
      remaining: granted - 7200n,
      held: 6200n,
      consumed: 1000n,
    });

    // Ends after 600 s on 2 GPUs: 1,200 explained, 1,000 metered → 200 stay held, 6,000 released.
    await end(id, 600);
    expect(await position(q.allocationId)).toEqual({
      remaining: granted - 1200n,
      held: 200n,
      consumed: 1000n,
    });

    // The last 300 arrive late: 200 from the hold, 100 beyond it from the allocation.
    await postUsageBatch(db, await ingest([record(q, 300, id)]));
    expect(await position(q.allocationId)).toEqual({ remaining: granted - 1300n, held: 0n, consumed: 1300n });
    const [row] = await db.query<{ consumed: string }[]>(
      'SELECT consumed_gpu_seconds::text AS consumed FROM workloads WHERE id = $1',
      [id],
    );
    expect(row.consumed).toBe('1300');

    // Redelivery changes nothing; a re-sent record is a duplicate and makes no batch.
    const dup = record(q, 5);
    const batch = await ingest([dup]);
    expect((await postUsageBatch(db, batch)).posted).toBe(true);
    expect((await postUsageBatch(db, batch)).posted).toBe(false);
    const again = await storeUsageBatch(db, null, [dup]);
    expect(again).toMatchObject({ batchId: null, accepted: [], duplicates: [0] });
    expect((await position(q.allocationId)).consumed).toBe(1305n);
  });

  it('refunds everything metered for an attempt the infrastructure failed, before and after its end', async () => {
    const q = await quota(100n);
    const id = await admitted(q, 1, HOUR);
    await postUsageBatch(db, await ingest([record(q, 400, id)]));
    await end(id, 900, 'node_down: n1: GPU Xid 79');
    // Refunded at the end, and nothing waits for the meter: the whole hold is released at once.
    expect(await position(q.allocationId)).toMatchObject({ held: 0n, consumed: 0n });
    await postUsageBatch(db, await ingest([record(q, 500, id)]));
    expect(await position(q.allocationId)).toEqual({ remaining: 100n * 3600n, held: 0n, consumed: 0n });
    const memos = await db.query<{ memo: string }[]>(
      `SELECT memo FROM ledger_transactions WHERE kind = 'refund' AND memo LIKE '%' || $1 || '%'`,
      [q.allocationId],
    );
    expect(memos).toHaveLength(2);
    for (const { memo } of memos) expect(memo).toContain('node_down');
  });

  it.each(['finish', 'stop'] as const)(
    'alerts at 50, 80 and 100%% once each; exhausted admits nothing; policy %s for running work',
    async (policy) => {
      const q = await quota(10n, policy); // 36,000 GPU-seconds
      const runner = await admitted(q, 1, 600); // holds 600
      const notes = async () =>
        (
          await db.query<{ dedupe_key: string }[]>(
            'SELECT dedupe_key FROM notifications WHERE allocation_id = $1 ORDER BY created_at, dedupe_key',
            [q.allocationId],
          )
        ).map((row) => row.dedupe_key);

      await usage.execute(await ingest([record(q, 18_000)]));
      expect(await notes()).toEqual([`usage_threshold:${q.allocationId}:50`]);
      await usage.execute(await ingest([record(q, 11_000)]));
      await usage.execute(await ingest([record(q, 100)]));
      expect(await notes()).toEqual([
        `usage_threshold:${q.allocationId}:50`,
        `usage_threshold:${q.allocationId}:80`,
      ]);

      jobs.length = 0;
      // 29,100 + 7,000 > 36,000 − 600 held: nothing left to admit against → exhausted.
      await usage.execute(await ingest([record(q, 7_000)]));
      const [allocation] = await db.query<{ status: string; status_reason: string }[]>(
        'SELECT status, status_reason FROM allocations WHERE id = $1',
        [q.allocationId],
      );
      expect(allocation).toMatchObject({ status: 'exhausted' });
      expect(await notes()).toEqual(
        expect.arrayContaining([
          `usage_threshold:${q.allocationId}:100`,
          `allocation_exhausted:${q.allocationId}`,
        ]),
      );
      // Usage is a fact: the overdraft shows.
      expect((await position(q.allocationId)).remaining).toBeLessThan(0n);

      const [state] = await db.query<{ state: string }[]>('SELECT state FROM workloads WHERE id = $1', [
        runner,
      ]);
      if (policy === 'stop') {
        expect(state.state).toBe('cancelled');
        expect(jobs).toContainEqual({
          name: 'dispatch.cancel',
          data: { workloadId: runner, attempt: 0, reason: expect.stringContaining('exhausted') },
        });
      } else {
        expect(state.state).toBe('running');
        expect(jobs.filter((job) => job.name === 'dispatch.cancel')).toEqual([]);
      }
      // More usage fires nothing new.
      const before = await notes();
      await usage.execute(await ingest([record(q, 10)]));
      expect(await notes()).toEqual(before);
    },
  );

  it('expires an ended window once, returning the remainder to the program; stale holds are released', async () => {
    const q = await quota(10n);
    const id = await admitted(q, 1, 1000);
    await end(id, 400); // 400 wait for a meter that never comes
    expect((await position(q.allocationId)).held).toBe(400n);
    expect(await releaseStaleHolds(db, new Date())).toBe(0);
    expect(
      await releaseStaleHolds(db, new Date(Date.now() + METERING_GRACE_MS + 60_000)),
    ).toBeGreaterThanOrEqual(1);
    expect((await position(q.allocationId)).held).toBe(0n);

    await db.query(`UPDATE allocations SET ends_at = now() - interval '1 minute' WHERE id = $1`, [
      q.allocationId,
    ]);
    const programAccount = `program:${q.programId}:${MODEL}`;
    const programBefore = (await accountBalances(db.manager, [programAccount])).get(programAccount)!;
    const first = await expireAllocations(db, new Date());
    expect(first.expired).toContain(q.allocationId);
    expect((await position(q.allocationId)).remaining).toBe(0n);
    expect((await accountBalances(db.manager, [programAccount])).get(programAccount)! - programBefore).toBe(
      36_000n,
    );
    const second = await expireAllocations(db, new Date());
    expect(second.expired).not.toContain(q.allocationId);
    expect((await accountBalances(db.manager, [programAccount])).get(programAccount)! - programBefore).toBe(
      36_000n,
    );
  });

  it('reconciles: balances equal their entries, rollups their records, postings their records', async () => {
    const report = await reconcileUsageAndBalances(db);
    expect(report).toMatchObject({ accountDrifts: 0, rollupDrifts: 0, usageDrifts: 0 });
    expect(report.accountsChecked).toBeGreaterThan(0);
    expect(report.rollupsChecked).toBeGreaterThan(0);
  });
});
