import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import {
  allocationAccount,
  consumedAccount,
  displayRatio,
  holdAccount,
  meteredGpuSeconds,
  programBudgetAccount,
  type RecallRule,
} from '../../libs/domain/src/index.js';
import { accountBalances, createDataSource, reservedUsage } from '../../libs/persistence/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import { JobProducer, QueueTransport } from '../../libs/queues/src/index.js';
import { createPlanningUseCases, type RecallDecisionCommand } from '../../libs/application/src/index.js';
import {
  toRecallProposalResponse,
  type RecallProposalResponse,
} from '../../apps/api/src/recalls/dto/recall.response.js';
import type { Principal } from '../../apps/api/src/auth/principal.js';
import { seedPool, type PoolFixture } from '../factories/pool-fixtures.js';
import {
  grantAll,
  seedApprovedReservedRequests,
  seedReservedProgram,
  type ReservedProgram,
} from '../factories/reservation-fixtures.js';
import { createTestDatabase } from '../support/database.js';

const DAY = 86_400_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const GPUS_PER_NODE = 8;
/** Under 10% of the reserved server time used by day 30: half of the servers still held go back. */
const DAY30: RecallRule = {
  id: 'day30',
  at: { days: 30 },
  usedBelowBasisPoints: 1000,
  recall: { remainingBasisPoints: 5000 },
};

/** Every pair of reservation spans on one node that overlap: the double bookings (must stay 0). */
async function overlaps(dataSource: DataSource): Promise<number> {
  const [row] = await dataSource.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM reservation_nodes x JOIN reservation_nodes y
        ON x.node_id = y.node_id AND x.reservation_id < y.reservation_id AND x.during && y.during`,
  );
  return row.n;
}

/**
 * Use-it-or-lose-it for reserved servers on real PostgreSQL and Redis: the usage sweep proposes
 * releasing K servers of an under-used reservation once; the admin's confirmation (the API service)
 * releases them from now through the release code path, returns exactly K × GPUs per node × remaining
 * seconds to the program, and enqueues the re-plan that puts a waitlisted line on the freed servers;
 * a dismissal releases nothing.
 */
describe('reserved-server recalls (real PostgreSQL and Redis)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let transport: QueueTransport;
  let producer: JobProducer;
  /** The admin's decisions as the API answers them (DecideRecallUseCase, mapped like the controller). */
  let recalls: {
    confirm(context: Omit<RecallDecisionCommand, 'proposalId'>, id: string): Promise<RecallProposalResponse>;
    dismiss(context: Omit<RecallDecisionCommand, 'proposalId'>, id: string): Promise<RecallProposalResponse>;
  };
  const proposeRecalls = (db: DataSource, now: Date) =>
    createPlanningUseCases(db, null).proposeRecalls.execute(now);
  let admin: Principal;
  let program: ReservedProgram;
  /** A whole minute, so planned windows are exact. */
  const anchor = Math.floor(Date.now() / MINUTE) * MINUTE;

  /**
   * A reserved allocation of `servers` servers of `pool` whose window opened `startedDaysAgo` days ago
   * and runs `days` days, placed by the real planner run with its clock set before the window.
   */
  async function placedInThePast(
    pool: PoolFixture,
    servers: number,
    startedDaysAgo: number,
    days: number,
  ): Promise<{ allocationId: string; startsAt: Date; endsAt: Date }> {
    const startsAt = new Date(anchor - startedDaysAgo * DAY);
    const endsAt = new Date(startsAt.getTime() + days * DAY);
    const [requestId] = await seedApprovedReservedRequests(
      dataSource,
      program,
      [{ organizationType: 'research_institute', gpuModel: pool.gpuModel, servers, startsAt, endsAt }],
      new Date(startsAt.getTime() - 3 * DAY),
    );
    const [allocationId] = await grantAll(dataSource, [requestId]);
    const { planning } = createPlanningUseCases(dataSource, null);
    const past = () => new Date(startsAt.getTime() - DAY);
    await expect(planning.replan(pool.gpuModel, { clock: past })).resolves.toMatchObject({ placed: 1 });
    const [window] = await dataSource.query<{ starts_at: Date; ends_at: Date }[]>(
      'SELECT starts_at, ends_at FROM allocations WHERE id = $1',
      [allocationId],
    );
    expect(window).toEqual({ starts_at: startsAt, ends_at: endsAt });
    return { allocationId, startsAt, endsAt };
  }

  /** One usage record of `gpus` × `seconds` on the allocation, ended two hours ago, posted. */
  async function meter(
    allocationId: string,
    gpuModel: string,
    gpus: number,
    seconds: number,
  ): Promise<bigint> {
    const endedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 2 * HOUR);
    const startedAt = new Date(endedAt.getTime() - seconds * 1000);
    const gpuSeconds = meteredGpuSeconds(gpus, startedAt, endedAt);
    const stored = await storeUsageBatch(dataSource, null, [
      {
        source: 'reserved-cluster',
        externalId: randomUUID(),
        allocationId,
        workloadId: null,
        gpuModel,
        gpus,
        startedAt,
        endedAt,
        gpuSeconds,
        late: false,
      },
    ]);
    if (!stored.batchId) throw new Error('usage record not stored');
    const posted = await postUsageBatch(dataSource, stored.batchId);
    if (!posted.posted) throw new Error('usage batch not posted');
    return gpuSeconds;
  }

  const proposalsOf = (allocationId: string) =>
    dataSource.query<
      {
        id: string;
        rule_id: string;
        status: string;
        gpu_seconds: string;
        used_basis_points: number;
        servers: number | null;
        servers_held: number | null;
        released_servers: number | null;
        recalled_gpu_seconds: string | null;
        decided_at: Date | null;
      }[]
    >(
      `SELECT id, rule_id, status, gpu_seconds::text AS gpu_seconds, used_basis_points, servers, servers_held,
              released_servers, recalled_gpu_seconds::text AS recalled_gpu_seconds, decided_at
         FROM recall_proposals WHERE allocation_id = $1 ORDER BY rule_id`,
      [allocationId],
    );

  const spansOf = (allocationId: string) =>
    dataSource.query<{ node_id: string; starts_at: Date; ends_at: Date }[]>(
      `SELECT rn.node_id, lower(rn.during) AS starts_at, upper(rn.during) AS ends_at
         FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id
        WHERE r.allocation_id = $1 ORDER BY rn.node_id`,
      [allocationId],
    );

  const recallEntries = (proposalId: string) =>
    dataSource.query<{ account: string; amount: string }[]>(
      `SELECT e.account, e.amount::text AS amount FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE t.kind = 'recall' AND t.idempotency_key = $1 ORDER BY e.amount`,
      [`recall:${proposalId}`],
    );

  const notificationsOf = (allocationId: string, kind: string) =>
    dataSource.query<{ body: string; data: Record<string, unknown> }[]>(
      'SELECT body, data FROM notifications WHERE allocation_id = $1 AND kind = $2',
      [allocationId, kind],
    );

  async function balance(account: string): Promise<bigint> {
    return (await accountBalances(dataSource.manager, [account])).get(account) ?? 0n;
  }

  async function queuedJobs(queue: 'planning' | 'scheduling') {
    const jobs = await producer.queue(queue).getJobs(['waiting', 'prioritized', 'delayed']);
    return jobs.map((job) => ({ name: job.name, data: job.data as unknown }));
  }

  beforeAll(async () => {
    database = await createTestDatabase('reserved_recall');
    dataSource = createDataSource({ url: database.url, poolSize: 6 });
    await dataSource.initialize();
    transport = new QueueTransport({
      backend: 'redis',
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      databaseUrl: database.url,
      prefix: `t${randomBytes(4).toString('hex')}`,
    });
    producer = new JobProducer(transport);
    const { decideRecall } = createPlanningUseCases(dataSource, producer);
    recalls = {
      confirm: async (context, id) =>
        toRecallProposalResponse((await decideRecall.confirm({ ...context, proposalId: id })).proposal),
      dismiss: async (context, id) =>
        toRecallProposalResponse(await decideRecall.dismiss({ ...context, proposalId: id })),
    };
    const [user] = await dataSource.query<{ id: string }[]>(
      `INSERT INTO users (email, name, roles) VALUES ('reserved-recall-admin@test.gpupool.kr', 'Admin', '{admin}')
       RETURNING id`,
    );
    admin = {
      kind: 'user',
      userId: user.id,
      email: 'reserved-recall-admin@test.gpupool.kr',
      roles: ['admin'],
      organizationId: null,
      agencyCode: null,
    };
    program = await seedReservedProgram(dataSource, {
      startsAt: new Date(anchor - 60 * DAY),
      endsAt: new Date(anchor + 80 * DAY),
      budgetGpuSeconds: { H200: 10n ** 12n, L40S: 10n ** 12n, B200: 10n ** 12n },
      // One sector only, so the targets play no part here.
      sectorTargets: { national: 100, industry: 0, academia: 0 },
    });
    await dataSource.query('UPDATE programs SET recall_rules = $2::jsonb WHERE id = $1', [
      program.programId,
      JSON.stringify([DAY30]),
    ]);
  });
  afterAll(async () => {
    await producer.close();
    await transport.close();
    await dataSource.destroy();
    await database.drop();
  });

  describe('an under-used reservation of 4 servers and a waitlisted line of 2', () => {
    let pool: PoolFixture;
    let reserved: { allocationId: string; startsAt: Date; endsAt: Date };
    let waiting: string;
    let used: bigint;
    let proposalId: string;

    beforeAll(async () => {
      pool = await seedPool(dataSource, { gpuModel: 'H200', nodes: 4, domains: 1 });
      reserved = await placedInThePast(pool, 4, 31, 90);
      // Approved later, for a month starting tomorrow: the pool is fully reserved until the first line
      // ends 59 days from now, and 30 days from then run past the program's end.
      const tomorrow = new Date(anchor + DAY);
      const [requestId] = await seedApprovedReservedRequests(dataSource, program, [
        {
          organizationType: 'research_institute',
          gpuModel: 'H200',
          servers: 2,
          startsAt: tomorrow,
          endsAt: new Date(tomorrow.getTime() + 30 * DAY),
        },
      ]);
      [waiting] = await grantAll(dataSource, [requestId]);
      await createPlanningUseCases(dataSource, null).planning.replan('H200');
      const [plan] = await dataSource.query<{ status: string; code: string }[]>(
        'SELECT status, code FROM reservation_plans WHERE allocation_id = $1',
        [waiting],
      );
      expect(plan).toEqual({ status: 'waitlisted', code: 'ENDS_AFTER_LATEST_END' });
      used = await meter(reserved.allocationId, 'H200', 1, 10 * 3600); // 10 GPU-hours
    });

    it('utilization is metered GPU-seconds ÷ servers × GPUs per node × elapsed window seconds, exact', async () => {
      const now = new Date();
      const usage = (await reservedUsage(dataSource.manager, [reserved.allocationId], now)).get(
        reserved.allocationId,
      );
      const elapsed = BigInt(Math.floor((now.getTime() - reserved.startsAt.getTime()) / 1000));
      const reservedSoFar = 4n * BigInt(GPUS_PER_NODE) * elapsed;
      expect(usage).toMatchObject({
        serversHeld: 4,
        gpusPerNode: GPUS_PER_NODE,
        utilization: {
          usedGpuSeconds: 36_000n,
          reservedGpuSeconds: reservedSoFar,
          ratio: displayRatio(36_000n, reservedSoFar),
        },
      });
      expect(used).toBe(36_000n);
      // A waitlisted line holds nothing yet: no utilization to judge.
      const pending = (await reservedUsage(dataSource.manager, [waiting], now)).get(waiting);
      expect(pending?.utilization).toEqual({ usedGpuSeconds: 0n, reservedGpuSeconds: 0n, ratio: null });
    });

    it('the usage sweep proposes releasing 2 of the 4 servers once; a second sweep adds none', async () => {
      const now = new Date();
      await expect(proposeRecalls(dataSource, now)).resolves.toEqual({
        proposals: 1,
        deliveryIds: [],
        misconfiguredPrograms: [],
      });
      const [proposal, ...others] = await proposalsOf(reserved.allocationId);
      expect(others).toEqual([]);
      const releaseAt = Math.ceil(now.getTime() / 1000) * 1000;
      const secondsLeft = BigInt((reserved.endsAt.getTime() - releaseAt) / 1000);
      const reservedSoFar =
        4n * BigInt(GPUS_PER_NODE) * BigInt(Math.floor((now.getTime() - reserved.startsAt.getTime()) / 1000));
      expect(proposal).toMatchObject({
        rule_id: 'day30',
        status: 'proposed',
        servers: 2,
        servers_held: 4,
        released_servers: null,
        recalled_gpu_seconds: null,
        gpu_seconds: (2n * BigInt(GPUS_PER_NODE) * secondsLeft).toString(),
        used_basis_points: Number((used * 10_000n) / reservedSoFar),
      });
      proposalId = proposal.id;
      const notices = await notificationsOf(reserved.allocationId, 'recall_proposed');
      expect(notices).toHaveLength(1);
      expect(notices[0].body).toMatch(
        new RegExp(
          `^2 of the 4 reserved H200 servers of allocation ${reserved.allocationId} may be released early`,
        ),
      );
      expect(notices[0].data).toMatchObject({ proposalId, ruleId: 'day30', servers: 2, serversHeld: 4 });

      await expect(proposeRecalls(dataSource, new Date())).resolves.toMatchObject({ proposals: 0 });
      expect(await proposalsOf(reserved.allocationId)).toHaveLength(1);
      expect(await notificationsOf(reserved.allocationId, 'recall_proposed')).toHaveLength(1);
    });

    it('confirm releases 2 servers from now, returns exactly 2 × 8 × the remaining seconds, and the waitlist gets them', async () => {
      const nodeIds = [...pool.nodeIds].sort();
      const released = [nodeIds[3], nodeIds[2]]; // no workload on any: the highest node ids go
      const programAccount = programBudgetAccount(program.programId, 'H200');
      const programBefore = await balance(programAccount);
      const remainingBefore = await balance(allocationAccount(reserved.allocationId));

      const view = await recalls.confirm({ principal: admin, requestId: 'req-reserved-recall' }, proposalId);

      const [row] = await proposalsOf(reserved.allocationId);
      const at = new Date(Math.ceil(new Date(row.decided_at as Date).getTime() / 1000) * 1000);
      const returned = 2n * BigInt(GPUS_PER_NODE) * BigInt((reserved.endsAt.getTime() - at.getTime()) / 1000);
      expect(view).toMatchObject({
        id: proposalId,
        status: 'confirmed',
        servers: { proposed: 2, heldWhenProposed: 4, released: 2 },
        recalled: { gpuSeconds: returned.toString() },
        decidedBy: admin.kind === 'user' ? admin.userId : null,
      });
      expect(row).toMatchObject({ released_servers: 2, recalled_gpu_seconds: returned.toString() });

      // The released servers' spans end at the release instant; the kept ones run to the window's end.
      expect(await spansOf(reserved.allocationId)).toEqual(
        nodeIds.map((nodeId) => ({
          node_id: nodeId,
          starts_at: reserved.startsAt,
          ends_at: released.includes(nodeId) ? at : reserved.endsAt,
        })),
      );
      const [reservation] = await dataSource.query<{ status: string }[]>(
        'SELECT status FROM reservations WHERE allocation_id = $1',
        [reserved.allocationId],
      );
      expect(reservation.status).toBe('placed');

      // Ledger: one balanced posting allocation → program of exactly the released server time.
      expect(await recallEntries(proposalId)).toEqual([
        { account: allocationAccount(reserved.allocationId), amount: (-returned).toString() },
        { account: programAccount, amount: returned.toString() },
      ]);
      expect((await balance(programAccount)) - programBefore).toBe(returned);
      const remaining = await balance(allocationAccount(reserved.allocationId));
      expect(remainingBefore - remaining).toBe(returned);
      const granted = 4n * BigInt(GPUS_PER_NODE) * 90n * 86_400n;
      expect(remaining + (await balance(consumedAccount(reserved.allocationId))) + returned).toBe(granted);
      expect(await balance(holdAccount(reserved.allocationId))).toBe(0n);

      // Audited twice: the decision and the release (the admin release's own event), same actor.
      const audit = await dataSource.query<
        { action: string; actor_id: string; request_id: string; after: Record<string, unknown> }[]
      >(
        `SELECT action, actor_id, request_id, after FROM audit_events
          WHERE (subject_type = 'recall_proposal' AND subject_id = $1)
             OR (subject_type = 'allocation' AND subject_id = $2 AND action = 'allocation.reservation_released')
          ORDER BY id`,
        [proposalId, reserved.allocationId],
      );
      expect(audit.map((event) => [event.action, event.actor_id, event.request_id])).toEqual([
        ['allocation.reservation_released', view.decidedBy, 'req-reserved-recall'],
        ['recall.confirmed', view.decidedBy, 'req-reserved-recall'],
      ]);
      expect(audit[0].after).toMatchObject({ status: 'placed', releasedNodeIds: released });
      const told = await notificationsOf(reserved.allocationId, 'recall_confirmed');
      expect(told).toHaveLength(1);
      expect(told[0].data).toMatchObject({ releasedServers: 2, recalledGpuSeconds: returned.toString() });
      expect(told[0].body).toContain('The reservation keeps 2 servers to the end of its window');

      // The model's waitlist re-plan and scheduling cycle were enqueued after commit.
      expect(await queuedJobs('planning')).toEqual([{ name: 'planning.replan', data: { gpuModel: 'H200' } }]);
      expect(await queuedJobs('scheduling')).toContainEqual({
        name: 'schedule.cycle',
        data: { gpuModel: 'H200' },
      });
      // What the planning worker does with it: the waitlisted line lands on the freed servers.
      const [job] = await producer.queue('planning').getJobs(['waiting', 'prioritized', 'delayed']);
      const replanned = await createPlanningUseCases(dataSource, null).planning.replan(
        (job.data as { gpuModel: string }).gpuModel,
        { jobId: job.id },
      );
      expect(replanned).toMatchObject({ placed: 1 });
      const [plan] = await dataSource.query<{ status: string }[]>(
        'SELECT status FROM reservation_plans WHERE allocation_id = $1',
        [waiting],
      );
      expect(plan.status).toBe('placed');
      const placed = await spansOf(waiting);
      expect(placed.map((span) => span.node_id).sort()).toEqual([...released].sort());
      expect(placed.every((span) => span.starts_at.getTime() === anchor + DAY)).toBe(true);
      expect(await overlaps(dataSource)).toBe(0);

      // The rule fired for this allocation: no sweep proposes again.
      await proposeRecalls(dataSource, new Date());
      expect(await proposalsOf(reserved.allocationId)).toHaveLength(1);
    });
  });

  it('dismiss releases nothing, posts nothing, and the rule does not fire again', async () => {
    const pool = await seedPool(dataSource, { gpuModel: 'L40S', nodes: 2, domains: 1 });
    const { allocationId } = await placedInThePast(pool, 2, 40, 60);
    await expect(proposeRecalls(dataSource, new Date())).resolves.toMatchObject({ proposals: 1 });
    const [proposal] = await proposalsOf(allocationId);
    expect(proposal).toMatchObject({ servers: 1, servers_held: 2 });
    const spans = await spansOf(allocationId);
    const remaining = await balance(allocationAccount(allocationId));

    const view = await recalls.dismiss({ principal: admin, requestId: null }, proposal.id);
    expect(view).toMatchObject({
      status: 'dismissed',
      recalled: null,
      servers: { proposed: 1, heldWhenProposed: 2, released: null },
    });
    await expect(recalls.confirm({ principal: admin, requestId: null }, proposal.id)).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
    });
    expect(await spansOf(allocationId)).toEqual(spans);
    expect(await recallEntries(proposal.id)).toEqual([]);
    expect(await balance(allocationAccount(allocationId))).toBe(remaining);
    expect(await notificationsOf(allocationId, 'recall_confirmed')).toEqual([]);
    await proposeRecalls(dataSource, new Date());
    expect(await proposalsOf(allocationId)).toHaveLength(1);
  });

  it('two concurrent confirms release the servers once: one succeeds, the other is a 409', async () => {
    const pool = await seedPool(dataSource, { gpuModel: 'B200', nodes: 3, domains: 1 });
    const { allocationId, endsAt } = await placedInThePast(pool, 3, 35, 60);
    await proposeRecalls(dataSource, new Date());
    const [proposal] = await proposalsOf(allocationId);
    expect(proposal).toMatchObject({ servers: 1, servers_held: 3 }); // ⌊3 × 50%⌋ = 1
    const settled = await Promise.allSettled([
      recalls.confirm({ principal: admin, requestId: null }, proposal.id),
      recalls.confirm({ principal: admin, requestId: null }, proposal.id),
    ]);
    expect(settled.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const [rejected] = settled.filter((outcome) => outcome.status === 'rejected');
    expect(rejected.reason).toMatchObject({ code: 'ILLEGAL_TRANSITION' });
    const cut = (await spansOf(allocationId)).filter((span) => span.ends_at.getTime() < endsAt.getTime());
    expect(cut).toHaveLength(1);
    expect(cut[0].node_id).toBe([...pool.nodeIds].sort()[2]);
    expect(await recallEntries(proposal.id)).toHaveLength(2);
    expect(await overlaps(dataSource)).toBe(0);
  });
});
