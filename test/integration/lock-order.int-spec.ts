import { randomInt } from 'node:crypto';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { CycleService } from '../../apps/scheduler/src/cycle/cycle.service.js';
import {
  DomainError,
  meteredGpuSeconds,
  runSchedulingCycle,
  type Principal,
} from '../../libs/domain/src/index.js';
import {
  createDataSource,
  LedgerRepository,
  PartitionSnapshotRepository,
  SchedulingCycleRepository,
  TypeormTransactionRunner,
} from '../../libs/persistence/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { seedPool, seedQuotas, submitWorkloads, type QuotaFixture } from '../factories/pool-fixtures.js';
import { createTestDatabase } from '../support/database.js';
import { RecordingProducer } from '../support/recording-producer.js';
import { reconcileUsageAndBalances, storeUsageBatch, usagePipeline } from '../support/usage-pipeline.js';
import { workloadUseCases } from '../support/workload-use-cases.js';

const MODEL = 'H100';
const ROUNDS = 10;
const PER_ROUND = 24;

const admin: Principal = {
  kind: 'user',
  userId: '00000000-0000-4000-8000-000000000001',
  email: 'lock-order-admin@test.gpupool.kr',
  roles: ['admin'],
  organizationId: null,
  agencyCode: null,
};
const agent: Principal = {
  kind: 'api_token',
  tokenId: '00000000-0000-4000-8000-0000000000a9',
  scopes: ['agent'],
  createdBy: 'test',
};

const silent = pino({ level: 'silent' });

/**
 * Issue 13 item 1: the hot paths that lock an allocation's rows — the cluster agent's end reports,
 * usage postings, cancels, scheduling cycles (admissions and their holds) and the stale-hold sweep —
 * all run at once on ONE allocation, round after round. Every transaction takes its locks in the
 * order docs/ARCHITECTURE.md gives ("Lock order"), so PostgreSQL never has to break a deadlock:
 * not one operation may fail with 40P01, and the ledger and the holds still reconcile afterwards.
 */
describe('lock order: ends, usage posts, cancels and cycles on one allocation', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let quota: QuotaFixture;
  let cycles: CycleService;

  beforeAll(async () => {
    database = await createTestDatabase('lock_order');
    dataSource = createDataSource({ url: database.url, poolSize: 16, applicationName: 'lock-order-test' });
    await dataSource.initialize();
    await seedPool(dataSource, { gpuModel: MODEL, nodes: 8, gpusPerNode: 8, domains: 1 });
    [quota] = await seedQuotas(dataSource, MODEL, [{ grantedGpuHours: 100_000n, maxConcurrentGpus: 512 }]);
    cycles = new CycleService(
      new TypeormTransactionRunner(dataSource),
      new SchedulingCycleRepository(dataSource),
      new PartitionSnapshotRepository(),
      new LedgerRepository(),
      new RecordingProducer() as unknown as JobProducer,
      silent,
      runSchedulingCycle,
      {
        settings: {
          fairShareHalfLifeSeconds: 7 * 86_400,
          backfill: true,
          preemption: true,
          estimateLimit: 1000,
        },
        maxRounds: 2,
        lockWaitMs: 60_000,
      },
      workloadUseCases(dataSource).endAttempt,
    );
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  /** Every admitted attempt of the allocation: this round's and those the last storm's cycles admitted. */
  async function admittedWorkloads() {
    return dataSource.query<{ id: string; gpus: number; attempt: number }[]>(
      `SELECT id, gpus, attempt FROM workloads WHERE allocation_id = $1 AND state = 'admitted' ORDER BY id`,
      [quota.allocationId],
    );
  }

  it('takes every lock in one order: 0 deadlocks over 10 rounds, and the books reconcile', async () => {
    const uses = workloadUseCases(dataSource);
    const usage = usagePipeline(dataSource).post;
    const sweep = usagePipeline(dataSource).releaseStaleHolds;
    const failures: unknown[] = [];
    let operations = 0;
    const attempt = async (operation: () => Promise<unknown>) => {
      operations += 1;
      try {
        await operation();
      } catch (error) {
        // A cancel that lost the race to an end is refused (409): that is the product speaking.
        if (!(error instanceof DomainError)) failures.push(error);
      }
    };

    for (let round = 0; round < ROUNDS; round += 1) {
      const specs = Array.from({ length: PER_ROUND }, (_, index) => ({
        quota,
        gpus: 1 + randomInt(3),
        walltimeSeconds: 900,
        simulatedRuntimeSeconds: 30,
        name: `r${round}-${index}`,
      }));
      await submitWorkloads(dataSource, MODEL, specs);
      await cycles.runCycle(MODEL);
      const running = await admittedWorkloads();
      expect(running.length).toBeGreaterThan(0);
      // Started before the storm, so end reports and usage both apply to running attempts.
      const at = new Date(Date.now() - 60_000).toISOString();
      for (const w of running) {
        await uses.reportAgentEvent.execute(agent, null, w.id, { type: 'started', attempt: w.attempt, at });
      }
      // Usage records for every running attempt, three workloads to a batch (stored now, posted in the storm).
      const endedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      const startedAt = new Date(endedAt.getTime() - 30_000);
      const batches: string[] = [];
      for (let i = 0; i < running.length; i += 3) {
        const records = running.slice(i, i + 3).map((w) => ({
          source: 'lock-order-test',
          externalId: `${w.id}:${w.attempt}`,
          allocationId: quota.allocationId,
          workloadId: w.id,
          attempt: w.attempt,
          gpuModel: MODEL,
          gpus: w.gpus,
          startedAt,
          endedAt,
          gpuSeconds: meteredGpuSeconds(w.gpus, startedAt, endedAt),
          late: false,
        }));
        const stored = await storeUsageBatch(dataSource, null, records);
        batches.push(stored.batchId!);
      }
      // The next round's queue, for the cycles of the storm to admit while the rest ends.
      await submitWorkloads(
        dataSource,
        MODEL,
        specs.map((spec) => ({ ...spec, name: `${spec.name}-next` })),
      );

      const storm: (() => Promise<unknown>)[] = [
        ...running.map(
          (w) => () =>
            uses.reportAgentEvent.execute(agent, null, w.id, {
              type: 'ended',
              attempt: w.attempt,
              at: new Date().toISOString(),
              outcome: 'succeeded',
              runtimeSeconds: 30,
            }),
        ),
        ...batches.map((id) => () => usage.post(id)),
        ...running
          .filter((_, index) => index % 4 === 0)
          .map((w) => () => uses.cancel.execute({ principal: admin, requestId: null }, w.id)),
        ...Array.from({ length: 4 }, () => () => cycles.runCycle(MODEL)),
        () => sweep.execute(new Date(Date.now() + 86_400_000)),
      ];
      // Shuffled, and all in flight at once.
      for (let i = storm.length - 1; i > 0; i -= 1) {
        const j = randomInt(i + 1);
        [storm[i], storm[j]] = [storm[j], storm[i]];
      }
      await Promise.all(storm.map((operation) => attempt(operation)));
    }

    const deadlocks = failures.filter((error) => String(error).includes('deadlock'));
    expect({ operations, deadlocks: deadlocks.length, failures: failures.map(String) }).toEqual({
      operations,
      deadlocks: 0,
      failures: [],
    });
    const reconciliation = await reconcileUsageAndBalances(dataSource);
    expect(reconciliation.drifts).toEqual([]);
  }, 600_000);
});
