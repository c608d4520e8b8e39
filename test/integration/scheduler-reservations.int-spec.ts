import pino from 'pino';
import type { DataSource } from 'typeorm';
import { runSchedulingCycle } from '../../libs/domain/src/index.js';
import {
  createDataSource,
  LedgerRepository,
  PartitionSnapshotRepository,
  SchedulingCycleRepository,
  TypeormTransactionRunner,
} from '../../libs/persistence/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { CycleService } from '../../apps/scheduler/src/cycle/cycle.service.js';
import { createTestDatabase } from '../support/database.js';
import { workloadUseCases } from '../support/workload-use-cases.js';
import {
  poolFacts,
  seedPool,
  seedQuotas,
  submitWorkloads,
  type PoolFixture,
  type QuotaFixture,
} from '../factories/pool-fixtures.js';
import { RecordingProducer } from '../support/recording-producer.js';

const GPU_MODEL = 'H200';
const logger = pino({ level: 'silent' });

/**
 * The live scheduler with reserved servers (issue 7), against a real PostgreSQL: the shared queue
 * treats nodes reserved now as taken, an owner's workloads run only on its reserved nodes, idle
 * reserved GPUs are lent preemptibly and reclaimed when the owner submits, and nodes whose
 * reservation starts soon take only work that ends before it.
 */
describe('scheduler with reserved servers (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let cycles: CycleService;
  let pool: PoolFixture;
  let shared: QuotaFixture;
  let owner: QuotaFixture;
  let later: QuotaFixture;

  /** A reservation straight into the calendar tables (the planner's job is tested elsewhere). */
  async function reserve(
    allocationId: string,
    nodeIds: string[],
    fromSql: string,
    toSql: string,
  ): Promise<void> {
    await dataSource.transaction(async (manager) => {
      const [row] = await manager.query<{ id: string }[]>(
        `INSERT INTO reservations (allocation_id, gpu_model, cluster_id, starts_at, ends_at, status)
         VALUES ($1, $2, $3, ${fromSql}, ${toSql}, 'placed') RETURNING id`,
        [allocationId, GPU_MODEL, pool.clusterId],
      );
      await manager.query(
        `INSERT INTO reservation_nodes (reservation_id, node_id, during)
         SELECT $1, n, tstzrange(${fromSql}, ${toSql}) FROM unnest($2::uuid[]) AS n`,
        [row.id, nodeIds],
      );
      await manager.query(
        `UPDATE allocations SET kind = 'reserved', starts_at = ${fromSql}, ends_at = ${toSql} WHERE id = $1`,
        [allocationId],
      );
    });
  }

  async function placementsOf(
    ids: string[],
  ): Promise<Map<string, { state: string; nodes: string[]; borrowed: boolean }>> {
    const rows = await dataSource.query<
      { id: string; state: string; borrowed: boolean; nodes: string[] | null }[]
    >(
      `SELECT w.id, w.state, w.borrowed, array_agg(p.node_id::text ORDER BY p.node_id) FILTER (WHERE p.node_id IS NOT NULL) AS nodes
       FROM workloads w LEFT JOIN workload_placements p ON p.workload_id = w.id
       WHERE w.id = ANY($1) GROUP BY w.id`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { state: r.state, nodes: r.nodes ?? [], borrowed: r.borrowed }]));
  }

  beforeAll(async () => {
    database = await createTestDatabase('scheduler_reservations');
    dataSource = createDataSource({
      url: database.url,
      poolSize: 4,
      applicationName: 'scheduler-reservations-test',
    });
    await dataSource.initialize();
    cycles = new CycleService(
      new TypeormTransactionRunner(dataSource),
      new SchedulingCycleRepository(dataSource),
      new PartitionSnapshotRepository(),
      new LedgerRepository(),
      new RecordingProducer() as unknown as JobProducer,
      logger,
      runSchedulingCycle,
      {
        settings: {
          fairShareHalfLifeSeconds: 7 * 86_400,
          backfill: true,
          preemption: true,
          estimateLimit: 100,
        },
        maxRounds: 3,
        lockWaitMs: 200,
      },
      workloadUseCases(dataSource).endAttempt,
    );
    pool = await seedPool(dataSource, { gpuModel: GPU_MODEL, nodes: 4, gpusPerNode: 8, domains: 1 });
    [shared, owner, later] = await seedQuotas(dataSource, GPU_MODEL, [
      { grantedGpuHours: 100_000n, maxConcurrentGpus: 64 },
      { grantedGpuHours: 100_000n, maxConcurrentGpus: 16 },
      { grantedGpuHours: 100_000n, maxConcurrentGpus: 8 },
    ]);
    // node-0000 and node-0001 are the owner's for 20 days from an hour ago; node-0002 is reserved
    // for `later` from 2 days on; node-0003 is free.
    await reserve(
      owner!.allocationId,
      [pool.nodeIds[0], pool.nodeIds[1]],
      "now() - interval '1 hour'",
      "now() + interval '20 days'",
    );
    await reserve(
      later!.allocationId,
      [pool.nodeIds[2]],
      "now() + interval '2 days'",
      "now() + interval '40 days'",
    );
  });
  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('keeps shared work off reserved nodes unless it is lent, and only until the node is due', async () => {
    // 30 days: only the free node can take it (submitted first, so it is first in line).
    const first = await submitWorkloads(dataSource, GPU_MODEL, [
      { quota: shared!, gpus: 8, walltimeSeconds: 30 * 86_400, simulatedRuntimeSeconds: 3600, name: 'long' },
    ]);
    const rest = await submitWorkloads(dataSource, GPU_MODEL, [
      // 1 day: ends before node-0002's reservation starts, and before the owner's window ends.
      { quota: shared!, gpus: 8, walltimeSeconds: 86_400, simulatedRuntimeSeconds: 3600, name: 'day-1' },
      { quota: shared!, gpus: 8, walltimeSeconds: 86_400, simulatedRuntimeSeconds: 3600, name: 'day-2' },
      // 10 days: only an owner's idle node (its window ends in 20 days) can be lent to it.
      {
        quota: shared!,
        gpus: 8,
        walltimeSeconds: 10 * 86_400,
        simulatedRuntimeSeconds: 3600,
        name: 'ten-days',
      },
      // 25 days: nowhere (the free node is taken, the owner's window ends sooner, node-0002 is due).
      { quota: shared!, gpus: 8, walltimeSeconds: 25 * 86_400, simulatedRuntimeSeconds: 3600, name: 'stuck' },
    ]);
    const ids = [...first, ...rest];
    await cycles.runCycle(GPU_MODEL);
    const placed = await placementsOf(ids);
    const [long, day1, day2, tenDays, stuck] = ids.map((id) => placed.get(id)!);
    expect(long.nodes).toEqual([pool.nodeIds[3]]);
    const lent = [day1, day2, tenDays];
    expect(lent.every((w) => w.state === 'admitted' && w.borrowed)).toBe(true);
    // The ten-day workload is not on node-0002 (due in 2 days).
    expect(tenDays.nodes[0]).not.toBe(pool.nodeIds[2]);
    expect(stuck.state).toBe('queued');
    const [why] = await dataSource.query<{ wait_reason: string }[]>(
      'SELECT wait_reason FROM workloads WHERE id = $1',
      [ids[4]],
    );
    expect(why.wait_reason).toBe('capacity');
    expect(await poolFacts(dataSource, GPU_MODEL)).toMatchObject({ overbooked: 0, mismatched: 0 });
  });

  it('reclaims lent GPUs the moment the owner submits, and runs the owner only on its nodes', async () => {
    const [first] = await submitWorkloads(dataSource, GPU_MODEL, [
      { quota: owner!, gpus: 16, walltimeSeconds: 3600, simulatedRuntimeSeconds: 600, name: 'owner-16' },
    ]);
    await cycles.runCycle(GPU_MODEL);
    const placed = (await placementsOf([first])).get(first)!;
    expect(placed.state).toBe('admitted');
    expect(placed.nodes.sort()).toEqual([pool.nodeIds[0], pool.nodeIds[1]].sort());
    const preempted = await dataSource.query<{ name: string; end_reason: string }[]>(
      `SELECT w.name, w.end_reason FROM workloads w WHERE w.state = 'queued' AND w.attempt = 1 ORDER BY w.name`,
    );
    // The two lent workloads on the owner's nodes go back to the queue, saying why.
    expect(preempted).toHaveLength(2);
    for (const row of preempted) {
      expect(row.end_reason).toMatch(/lent from reserved servers, reclaimed by their owner/);
    }
    expect(await poolFacts(dataSource, GPU_MODEL)).toMatchObject({ overbooked: 0, mismatched: 0 });
  });

  it('holds the work of an allocation whose reservation has not started', async () => {
    const [early] = await submitWorkloads(dataSource, GPU_MODEL, [
      { quota: later!, gpus: 8, walltimeSeconds: 3600, simulatedRuntimeSeconds: 600, name: 'early' },
    ]);
    await cycles.runCycle(GPU_MODEL);
    const [row] = await dataSource.query<{ state: string; wait_reason: string }[]>(
      'SELECT state, wait_reason FROM workloads WHERE id = $1',
      [early],
    );
    expect(row).toEqual({
      state: 'queued',
      wait_reason: expect.stringMatching(/allocation_not_admitting|capacity/),
    });
  });

  it('the calendar itself refuses a node booked twice', async () => {
    await expect(
      reserve(
        shared!.allocationId,
        [pool.nodeIds[0]],
        "now() + interval '1 day'",
        "now() + interval '3 days'",
      ),
    ).rejects.toThrow(/exclu|conflict/i);
  });
});
