import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { meteredGpuSeconds, type StoredUsageRecord } from '../../libs/domain/src/index.js';
import {
  AgencyEntity,
  createDataSource,
  ProgramEntity,
  RateCardEntity,
  TypeormBillingCloseRepository,
} from '../../libs/persistence/src/index.js';
import { JobProducer, QueueTransport } from '../../libs/queues/src/index.js';
import {
  makeGrantedAllocation,
  makeOrganization,
  makeProject,
  makeUser,
} from '../factories/program.factory.js';
import { createTestDatabase } from '../support/database.js';
import { startSchedulerProcess, startThrowawayRedis, stopProcess, waitFor } from '../support/processes.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';

const MARCH = '2026-03';

/**
 * The billing close as a job under faults: the scheduler killed with SIGKILL while the closing
 * transaction is open (held by FAULT_CLOSE_DELAY_MS). Nothing may be half-written, and a second
 * scheduler must close the period exactly once.
 */
describe('billing close under faults', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let redis: Awaited<ReturnType<typeof startThrowawayRedis>>;
  const children: ChildProcess[] = [];
  let financeId: string;
  let expectedSeconds = 0n;
  let recordCount = 0;

  beforeAll(async () => {
    database = await createTestDatabase('close_faults');
    db = createDataSource({ url: database.url, poolSize: 4 });
    await db.initialize();
    redis = await startThrowawayRedis();
    financeId = (await makeUser(db, { roles: ['finance'] })).id;
    await db.getRepository(AgencyEntity).insert({ code: 'NIPA', name: '정보통신산업진흥원' });
    const program = await db.getRepository(ProgramEntity).save({
      code: 'AI-GPU-2026',
      name: '2026 AI 컴퓨팅 지원',
      agencyCode: 'NIPA',
      fiscalYear: 2026,
      startsAt: new Date('2026-01-01T00:00:00Z'),
      endsAt: new Date('2027-01-01T00:00:00Z'),
      eligibleOrganizationTypes: ['university', 'startup'],
      tracks: [{ code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 64 }],
      rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }],
      sectorTargets: { national: 50, industry: 30, academia: 20 },
      subsidyRates: { startup: 7000 },
    });
    await db.getRepository(RateCardEntity).insert({
      gpuModel: 'H100',
      krwPerGpuHour: 3000n,
      effectiveFrom: new Date('2026-01-01T00:00:00+09:00'),
      createdBy: financeId,
    });
    for (const [index, type] of ['university', 'startup', 'startup'].entries()) {
      const organizationId = await makeOrganization(db, { type });
      const owner = await makeUser(db, { organizationId });
      const projectId = await makeProject(db, { organizationId, piUserId: owner.id });
      const { allocationId } = await makeGrantedAllocation(db, {
        projectId,
        programId: program.id,
        createdBy: owner.id,
        gpuModel: 'H100',
        grantedGpuSeconds: 100_000_000n,
      });
      const records: StoredUsageRecord[] = [];
      for (let day = 2; day <= 20; day += 1) {
        const startedAt = new Date(`2026-03-${String(day).padStart(2, '0')}T01:00:00Z`);
        const endedAt = new Date(startedAt.getTime() + (index + 1) * 3600_000);
        const gpuSeconds = meteredGpuSeconds(2, startedAt, endedAt);
        expectedSeconds += gpuSeconds;
        records.push({
          source: 'close-faults',
          externalId: randomUUID(),
          allocationId,
          workloadId: null,
          gpuModel: 'H100',
          gpus: 2,
          startedAt,
          endedAt,
          gpuSeconds,
          late: false,
        });
      }
      recordCount += records.length;
      const stored = await storeUsageBatch(db, null, records);
      await postUsageBatch(db, stored.batchId!);
    }
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => stopProcess(child, 'SIGKILL')));
    await redis.stop();
    await db.destroy();
    await database.drop();
  });

  function schedulerEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_BACKEND: 'redis',
      QUEUE_PREFIX: prefix,
      DATABASE_POOL_SIZE: '4',
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_GRACE_MS: '0',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      ...extra,
    };
  }

  async function facts() {
    const [row] = await db.query<
      {
        status: string | null;
        line_count: number | null;
        lines: number;
        line_seconds: string | null;
        billed: number;
        closed_audits: number;
        closes: string[];
        unbalanced: number;
      }[]
    >(
      `SELECT (SELECT status FROM billing_periods WHERE period = $1) AS status,
              (SELECT line_count FROM billing_periods WHERE period = $1) AS line_count,
              (SELECT count(*)::int FROM billing_lines WHERE period = $1) AS lines,
              (SELECT sum(gpu_seconds)::text FROM billing_lines WHERE period = $1) AS line_seconds,
              (SELECT count(*)::int FROM billed_usage WHERE billed_in_period = $1) AS billed,
              (SELECT count(*)::int FROM audit_events WHERE action = 'billing_period.closed' AND subject_id = $1) AS closed_audits,
              ARRAY(SELECT status FROM billing_period_closes WHERE period = $1 ORDER BY created_at) AS closes,
              (SELECT count(*)::int FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
                                          HAVING SUM(amount) <> 0) x) AS unbalanced`,
      [MARCH],
    );
    return row;
  }

  it('SIGKILL of the scheduler inside the closing transaction: a second scheduler closes exactly once', async () => {
    const prefix = `c${randomBytes(3).toString('hex')}`;
    const transport = new QueueTransport({
      backend: 'redis',
      redisUrl: redis.url,
      databaseUrl: database.url,
      prefix,
    });
    const producer = new JobProducer(transport);
    const closes = new TypeormBillingCloseRepository(db);
    const { record } = await db.transaction((tx) =>
      closes.requestClose(tx, { period: MARCH, requestedBy: financeId, requestId: 'fault-test' }),
    );
    await producer.enqueue({ name: 'billing.close', data: { closeId: record.id } });

    const first = startSchedulerProcess(schedulerEnv(prefix, { FAULT_CLOSE_DELAY_MS: '60000' }));
    children.push(first);
    // The closing transaction is open (held before its commit) once a session waits inside it.
    await waitFor(
      'the close to be held open',
      async () => {
        const [open] = await db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'idle in transaction' AND xact_start < now() - interval '500 ms'`,
        );
        const current = await closes.findById(record.id);
        return current?.status === 'running' && (open?.n ?? 0) > 0 ? current : undefined;
      },
      60_000,
    );
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killed = await facts();
    expect(killed).toMatchObject({ lines: 0, billed: 0, closed_audits: 0, closes: ['running'] });
    expect(killed.status).not.toBe('closed');

    const second = startSchedulerProcess(schedulerEnv(prefix));
    children.push(second);
    await waitFor(
      'the close to succeed',
      async () => ((await closes.findById(record.id))?.status === 'succeeded' ? true : undefined),
      60_000,
    );
    // Let any redelivery of the stalled job and the sweep run too; they must change nothing.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const done = await facts();
    expect(done).toMatchObject({
      status: 'closed',
      lines: 3,
      line_count: 3,
      line_seconds: expectedSeconds.toString(),
      billed: recordCount,
      closed_audits: 1,
      closes: ['succeeded'],
      unbalanced: 0,
    });
    const closed = await closes.findById(record.id);
    expect(closed?.result).toMatchObject({
      lineCount: 3,
      chargedPieces: recordCount,
      closedByThisRecord: true,
    });
    expect(closed?.attempts).toBeGreaterThanOrEqual(2);
    await stopProcess(second);
    await producer.close();
    await transport.close();
  });
  it('a close whose job Redis lost is found by the reconcile.closes sweep and finds the period closed', async () => {
    // March is closed by the test above: a close recorded without its job (a failed enqueue, a
    // flush) is re-enqueued by the sweep, and its job marks it succeeded without closing again.
    const prefix = `s${randomBytes(3).toString('hex')}`;
    const closes = new TypeormBillingCloseRepository(db);
    const before = await facts();
    const { record } = await db.transaction((tx) =>
      closes.requestClose(tx, { period: MARCH, requestedBy: financeId, requestId: null }),
    );
    const scheduler = startSchedulerProcess(schedulerEnv(prefix));
    children.push(scheduler);
    const done = await waitFor(
      'the sweep to run the lost close',
      async () => {
        const current = await closes.findById(record.id);
        return current?.status === 'succeeded' ? current : undefined;
      },
      60_000,
    );
    expect(done.result).toMatchObject({ lineCount: 0, closedByThisRecord: false });
    const after = await facts();
    expect(after).toEqual({ ...before, closes: ['succeeded', 'succeeded'] });
    await stopProcess(scheduler);
  });
});
