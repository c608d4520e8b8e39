import pino from 'pino';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { seoulMonthKey, seoulPlanningMonths } from '../../libs/domain/src/index.js';
import { configFrom } from '../../libs/config/src/index.js';
import { createPlanningUseCases } from '../../libs/application/src/index.js';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { JobProducer, QueueTransport } from '../../libs/queues/src/index.js';
import { SchedulerProcess } from '../../apps/scheduler/src/scheduler.js';
import { PlanningReconciler } from '../../apps/scheduler/src/planning/planning-reconciler.service.js';
import { createTestDatabase } from '../support/database.js';
import { waitFor } from '../support/processes.js';
import { seedPool } from '../factories/pool-fixtures.js';
import {
  grantAll,
  seedApprovedReservedRequests,
  seedReservedProgram,
  seededRandom,
  type ReservedProgram,
  type ReservedRequestSpec,
} from '../factories/reservation-fixtures.js';

const DAY = 86_400_000;
const logger = pino({ level: 'silent' });

/** A Seoul month `ahead` months after the current one, as Dates. */
function monthAhead(ahead: number): { start: Date; end: Date } {
  const months = seoulPlanningMonths(seoulMonthKey(Math.floor(Date.now() / 1000)), ahead + 1);
  const month = months[ahead];
  return { start: new Date(month.start * 1000), end: new Date(month.end * 1000) };
}

async function planRows(dataSource: DataSource, allocationIds: string[]) {
  return dataSource.query<
    { allocation_id: string; status: string; attempts: number; code: string | null; reason: string | null }[]
  >(
    `SELECT allocation_id, status, attempts, code, reason FROM reservation_plans WHERE allocation_id = ANY($1)
      ORDER BY allocation_id`,
    [allocationIds],
  );
}

async function digest(dataSource: DataSource): Promise<string[]> {
  const rows: string[] = [];
  for (const table of ['reservations', 'reservation_nodes', 'reservation_plans', 'allocations']) {
    const [row] = await dataSource.query<{ d: string }[]>(
      `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d FROM ${table} t`,
    );
    rows.push(`${table}:${row.d}`);
  }
  const [audit] = await dataSource.query<{ n: string }[]>('SELECT count(*)::text AS n FROM audit_events');
  rows.push(`audit:${audit.n}`);
  return rows;
}

/**
 * Each plan's decisions as written: attempts (planning runs that changed the plan), the audit events
 * written for it, and its reservations. Concurrent runs that double-wrote would break the equalities.
 */
async function decisions(dataSource: DataSource, allocationIds: string[]) {
  return dataSource.query<
    { status: string; attempts: number; events: number; placed_events: number; reservations: number }[]
  >(
    `SELECT p.status, p.attempts,
            (SELECT count(*) FROM audit_events e WHERE e.subject_type = 'allocation' AND e.subject_id = p.allocation_id::text
               AND e.action IN ('allocation.reservation_placed', 'allocation.reservation_waitlisted'))::int AS events,
            (SELECT count(*) FROM audit_events e WHERE e.subject_type = 'allocation' AND e.subject_id = p.allocation_id::text
               AND e.action = 'allocation.reservation_placed')::int AS placed_events,
            (SELECT count(*) FROM reservations r WHERE r.allocation_id = p.allocation_id)::int AS reservations
       FROM reservation_plans p WHERE p.allocation_id = ANY($1)`,
    [allocationIds],
  );
}

function expectDecidedOnce(rows: Awaited<ReturnType<typeof decisions>>): void {
  for (const row of rows) {
    expect(row.status === 'placed' || row.status === 'waitlisted').toBe(true);
    expect(row.events).toBe(row.attempts);
    expect(row.placed_events).toBe(row.status === 'placed' ? 1 : 0);
    expect(row.reservations).toBe(row.status === 'placed' ? 1 : 0);
  }
}

async function overlaps(dataSource: DataSource): Promise<number> {
  const [row] = await dataSource.query<{ n: string }[]>(
    `SELECT count(*)::text AS n FROM reservation_nodes x JOIN reservation_nodes y
        ON x.node_id = y.node_id AND x.reservation_id < y.reservation_id AND x.during && y.during`,
  );
  return Number(row.n);
}

/**
 * The planning job's contract on real PostgreSQL and Redis: the grant writes the pending plan in its
 * transaction and enqueues planning.plan; two scheduler processes plan concurrently without
 * double-booking or double-writing; a redelivered job changes nothing; the reconciler recovers plans
 * whose job was lost; sector targets hold the line back for the owners; a release re-plans the waitlist.
 */
describe('planning jobs (real PostgreSQL and Redis)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let second: DataSource;
  const prefix = `t${randomBytes(4).toString('hex')}`;
  let transport: QueueTransport;
  let producer: JobProducer;

  beforeAll(async () => {
    database = await createTestDatabase('reservation_jobs');
    dataSource = createDataSource({ url: database.url, poolSize: 4, applicationName: 'reservation-jobs-a' });
    second = createDataSource({ url: database.url, poolSize: 4, applicationName: 'reservation-jobs-b' });
    await dataSource.initialize();
    await second.initialize();
    transport = new QueueTransport({
      backend: 'redis',
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      databaseUrl: database.url,
      prefix,
    });
    producer = new JobProducer(transport);
  });
  afterAll(async () => {
    await producer.close();
    await transport.close();
    await second.destroy();
    await dataSource.destroy();
    await database.drop();
  });

  it('grants a reserved line with its window and servers and a pending plan in the same transaction', async () => {
    await seedPool(dataSource, { gpuModel: 'A10', nodes: 8, domains: 2 });
    const month = monthAhead(2);
    const program = await seedReservedProgram(dataSource, {
      startsAt: new Date(Date.now() - DAY),
      endsAt: month.end,
      budgetGpuSeconds: { A10: 10n ** 12n },
    });
    const [requestId] = await seedApprovedReservedRequests(dataSource, program, [
      {
        organizationType: 'university',
        gpuModel: 'A10',
        servers: 3,
        startsAt: month.start,
        endsAt: new Date(month.start.getTime() + 10 * DAY),
        sameInterconnectDomain: true,
      },
    ]);
    const [allocationId] = await grantAll(dataSource, [requestId]);
    const [allocation] = await dataSource.query<
      {
        kind: string;
        servers: number;
        same_interconnect_domain: boolean;
        starts_at: Date;
        ends_at: Date;
        max_concurrent_gpus: number;
      }[]
    >(
      'SELECT kind, servers, same_interconnect_domain, starts_at, ends_at, max_concurrent_gpus FROM allocations WHERE id = $1',
      [allocationId],
    );
    expect(allocation).toEqual({
      kind: 'reserved',
      servers: 3,
      same_interconnect_domain: true,
      starts_at: month.start,
      ends_at: new Date(month.start.getTime() + 10 * DAY),
      max_concurrent_gpus: 24,
    });
    expect((await planRows(dataSource, [allocationId]))[0]).toMatchObject({
      status: 'pending',
      attempts: 0,
    });
    const planning = createPlanningUseCases(dataSource, null).planning;
    const result = await planning.plan(allocationId);
    expect(result).toMatchObject({ outcome: 'planned', gpuModel: 'A10', placed: 1 });
    const [nodes] = await dataSource.query<{ n: number; domains: number }[]>(
      `SELECT count(*)::int AS n, count(DISTINCT n.interconnect_domain)::int AS domains
         FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id JOIN nodes n ON n.id = rn.node_id
        WHERE r.allocation_id = $1`,
      [allocationId],
    );
    expect(nodes).toEqual({ n: 3, domains: 1 });
  });

  describe('with two scheduler processes', () => {
    let schedulers: SchedulerProcess[];
    let program: ReservedProgram;
    let allocationIds: string[] = [];
    let requestIds: string[] = [];

    beforeAll(async () => {
      await seedPool(dataSource, { gpuModel: 'H100', nodes: 24, domains: 3 });
      await seedPool(dataSource, { gpuModel: 'H100', nodes: 16, domains: 2 });
      const window = monthAhead(2);
      program = await seedReservedProgram(dataSource, {
        startsAt: new Date(Date.now() - DAY),
        endsAt: monthAhead(4).end,
        budgetGpuSeconds: { H100: 10n ** 13n },
      });
      const random = seededRandom(3);
      const specs: ReservedRequestSpec[] = Array.from({ length: 40 }, () => {
        const start = new Date(window.start.getTime() + Math.floor(random() * 20) * DAY);
        const servers = 1 + Math.floor(random() * 12);
        const draw = random();
        return {
          organizationType: draw < 0.3 ? 'university' : draw < 0.65 ? 'research_institute' : 'startup',
          gpuModel: 'H100',
          servers,
          startsAt: start,
          endsAt: new Date(start.getTime() + (10 + Math.floor(random() * 40)) * DAY),
          sameInterconnectDomain: servers <= 8 && random() < 0.5,
        };
      });
      requestIds = await seedApprovedReservedRequests(dataSource, program, specs);
      const config = configFrom({
        DATABASE_URL: database.url,
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: 'silent',
        DATABASE_POOL_SIZE: '4',
        RECONCILE_INTERVAL_MS: '500',
        // The schedulers' sweeps must leave the rows this file writes by hand to the test: seeding and
        // granting 30 requests takes longer than a few seconds on a busy machine, and a sweep that planned
        // them first left the concurrent runs nothing to plan. The lost-job test runs its own sweep.
        RECONCILE_GRACE_MS: '600000',
      });
      schedulers = [new SchedulerProcess(config), new SchedulerProcess(config)];
      for (const scheduler of schedulers) await scheduler.start();
    });
    afterAll(async () => {
      for (const scheduler of schedulers) await scheduler.stop();
    });

    it('grant jobs enqueue planning.plan; every line ends placed or waitlisted exactly once', async () => {
      // What the API does after each approval commits.
      await producer.enqueueMany(
        requestIds.map((requestId) => ({ name: 'grant.allocation', data: { requestId } })),
      );
      await waitFor(
        'every grant and plan decided',
        async () => {
          const [row] = await dataSource.query<{ granted: string; decided: string }[]>(
            `SELECT (SELECT count(*) FROM grant_intents WHERE request_id = ANY($1) AND status = 'done')::text AS granted,
                    (SELECT count(*) FROM reservation_plans p JOIN allocations a ON a.id = p.allocation_id
                      WHERE a.request_id = ANY($1) AND p.status <> 'pending')::text AS decided`,
            [requestIds],
          );
          return Number(row.granted) === requestIds.length && Number(row.decided) === requestIds.length;
        },
        60_000,
      );
      allocationIds = (
        await dataSource.query<{ id: string }[]>('SELECT id FROM allocations WHERE request_id = ANY($1)', [
          requestIds,
        ])
      ).map((row) => row.id);
      const plans = await planRows(dataSource, allocationIds);
      expect(plans).toHaveLength(40);
      // Placed once (one reservation, one event); every change of a waitlisted offer written once.
      expectDecidedOnce(await decisions(dataSource, allocationIds));
      expect(plans.filter((plan) => plan.status === 'placed').length).toBeGreaterThan(0);
      expect(await overlaps(dataSource)).toBe(0);
    });

    it('a redelivered planning.plan job changes nothing', async () => {
      const queue = producer.queue('planning');
      const idle = async (what: string) =>
        waitFor(
          what,
          async () => {
            const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
            return counts.waiting + counts.active + counts.delayed === 0;
          },
          30_000,
        );
      // The state to compare against is taken once the planning the previous test set off (re-plans of
      // the waitlist after placements) is over: on a busy machine it was not, and it changed the digest.
      await idle('the previous planning done');
      const before = await digest(dataSource);
      await producer.enqueueMany(
        allocationIds.map((allocationId) => ({ name: 'planning.plan', data: { allocationId } })),
      );
      await idle('redelivered jobs done');
      // Straight calls too, on both "processes" at once.
      const services = [
        createPlanningUseCases(dataSource, null).planning,
        createPlanningUseCases(second, null).planning,
      ];
      const outcomes = await Promise.all(
        allocationIds.slice(0, 10).map((id, index) => services[index % 2].plan(id)),
      );
      expect(outcomes.every((outcome) => outcome.outcome === 'not_pending')).toBe(true);
      expect(await digest(dataSource)).toEqual(before);
    });

    it('concurrent planning runs of one model never double-book and decide each line once', async () => {
      const window = monthAhead(3);
      const random = seededRandom(5);
      const more = await seedApprovedReservedRequests(
        dataSource,
        program,
        Array.from({ length: 30 }, () => {
          const start = new Date(window.start.getTime() + Math.floor(random() * 10) * DAY);
          return {
            organizationType: random() < 0.5 ? 'research_institute' : 'startup',
            gpuModel: 'H100',
            servers: 1 + Math.floor(random() * 10),
            startsAt: start,
            endsAt: new Date(start.getTime() + (5 + Math.floor(random() * 20)) * DAY),
          };
        }),
      );
      // Granted directly (no jobs), then planned by many runs at once on two connections pools.
      const fresh = await grantAll(dataSource, more);
      const services = [
        createPlanningUseCases(dataSource, null).planning,
        createPlanningUseCases(second, null).planning,
      ];
      const results = await Promise.all(fresh.map((id, index) => services[index % 2].plan(id)));
      const runs = results.filter((result) => result.outcome === 'planned');
      expect(runs.length).toBeGreaterThanOrEqual(1);
      expectDecidedOnce(await decisions(dataSource, fresh));
      expect(await overlaps(dataSource)).toBe(0);
    });

    it('a planning run waits behind the model lock as long as it takes: it is never dropped (issue 13 item 11)', async () => {
      const window = monthAhead(3);
      const [line] = await seedApprovedReservedRequests(dataSource, program, [
        {
          organizationType: 'university',
          gpuModel: 'H100',
          servers: 1,
          startsAt: window.start,
          endsAt: new Date(window.start.getTime() + 2 * DAY),
        },
      ]);
      const [allocationId] = await grantAll(dataSource, [line]);
      // A connection whose statements give up after 300 ms, behind a run that holds the lock longer.
      const impatient = createDataSource({
        url: database.url,
        poolSize: 1,
        applicationName: 'reservation-jobs-impatient',
        statementTimeoutMs: 300,
      });
      await impatient.initialize();
      const holder = second.createQueryRunner();
      try {
        await holder.connect();
        await holder.startTransaction();
        await holder.query("SELECT pg_advisory_xact_lock(hashtext('gpupool:planning'), hashtext('H100'))");
        const run = createPlanningUseCases(impatient, null).planning.plan(allocationId);
        let settled = false;
        const outcome = run.then(
          (result) => result,
          (error: unknown) => error,
        );
        void outcome.then(() => (settled = true));
        // Hold the lock until the run has waited behind it for twice its statement timeout (the
        // database's clock), or until it gave up: before the fix it gave up at 300 ms.
        while (!settled) {
          const [waiting] = await second.query<{ waited: boolean }[]>(
            `SELECT clock_timestamp() - query_start > interval '600 milliseconds' AS waited FROM pg_stat_activity
              WHERE application_name = 'reservation-jobs-impatient' AND wait_event_type = 'Lock'`,
          );
          if (waiting?.waited) break;
        }
        await holder.commitTransaction();
        expect(await outcome).toMatchObject({ outcome: 'planned', gpuModel: 'H100' });
      } finally {
        await holder.release();
        await impatient.destroy();
      }
      expectDecidedOnce(await decisions(dataSource, [allocationId]));
    });

    it('the reconciler re-enqueues a plan whose job Redis lost', async () => {
      const window = monthAhead(3);
      const [lost] = await seedApprovedReservedRequests(dataSource, program, [
        {
          organizationType: 'university',
          gpuModel: 'H100',
          servers: 1,
          startsAt: window.start,
          endsAt: new Date(window.start.getTime() + 2 * DAY),
        },
      ]);
      // Granted without its job: as if Redis lost planning.plan after the grant committed.
      const [allocationId] = await grantAll(dataSource, [lost]);
      expect((await planRows(dataSource, [allocationId]))[0].status).toBe('pending');
      const { plans, moves } = createPlanningUseCases(dataSource, null);
      const reconciler = new PlanningReconciler(plans, moves, producer, logger, 0);
      const swept = await reconciler.sweep();
      expect(swept.requeued).toBeGreaterThanOrEqual(1);
      await waitFor(
        'the lost plan decided',
        async () => (await planRows(dataSource, [allocationId]))[0].status !== 'pending',
        30_000,
      );
      const waitlists = await reconciler.sweep({ waitlists: true });
      expect(waitlists.replans).toBeGreaterThanOrEqual(0);
    });
  });

  it('holds a sector back while the owners of the target shares still ask for them', async () => {
    await seedPool(dataSource, { gpuModel: 'L40S', nodes: 10, domains: 1 });
    const month = monthAhead(2);
    const program = await seedReservedProgram(dataSource, {
      startsAt: new Date(Date.now() - DAY),
      endsAt: month.end,
      budgetGpuSeconds: { L40S: 10n ** 12n },
    });
    const line = (organizationType: string, servers: number) => ({
      organizationType,
      gpuModel: 'L40S',
      servers,
      startsAt: month.start,
      endsAt: month.end,
    });
    // Industry was approved first and asks for every server; national and academia ask for their
    // shares. Owners within their share are never displaced by a borrower, whatever the order.
    const requests = await seedApprovedReservedRequests(dataSource, program, [
      line('startup', 10),
      line('research_institute', 5),
      line('university', 2),
    ]);
    const [industry, national, academia] = await grantAll(dataSource, requests);
    await createPlanningUseCases(dataSource, null).planning.replan('L40S');
    const plans = new Map(
      (await planRows(dataSource, [industry, national, academia])).map((plan) => [plan.allocation_id, plan]),
    );
    expect(plans.get(national)!.status).toBe('placed');
    expect(plans.get(academia)!.status).toBe('placed');
    expect(plans.get(industry)).toMatchObject({ status: 'waitlisted', code: 'ENDS_AFTER_LATEST_END' });
    expect(plans.get(industry)!.reason).toMatch(/10 L40S servers/);
  });

  it('re-plans the waitlist when reserved servers are released', async () => {
    await seedPool(dataSource, { gpuModel: 'MI300X', nodes: 4, domains: 1 });
    const month = monthAhead(2);
    const program = await seedReservedProgram(dataSource, {
      startsAt: new Date(Date.now() - DAY),
      endsAt: new Date(month.start.getTime() + 40 * DAY),
      budgetGpuSeconds: { MI300X: 10n ** 12n },
      // One sector only, so the targets play no part here.
      sectorTargets: { national: 100, industry: 0, academia: 0 },
    });
    const span = (servers: number) => ({
      organizationType: 'research_institute',
      gpuModel: 'MI300X',
      servers,
      startsAt: month.start,
      endsAt: new Date(month.start.getTime() + 30 * DAY),
    });
    const requests = await seedApprovedReservedRequests(dataSource, program, [span(4), span(4)]);
    const [first, waiting] = await grantAll(dataSource, requests);
    const planning = createPlanningUseCases(dataSource, null).planning;
    await planning.replan('MI300X');
    expect((await planRows(dataSource, [waiting]))[0]).toMatchObject({
      status: 'waitlisted',
      code: 'ENDS_AFTER_LATEST_END',
    });
    const [offer] = await dataSource.query<{ earliest: Date }[]>(
      'SELECT earliest_feasible_start AS earliest FROM reservation_plans WHERE allocation_id = $1',
      [waiting],
    );
    // The earliest feasible start offered is when the first line's servers come free.
    expect(offer.earliest).toEqual(new Date(month.start.getTime() + 30 * DAY));

    // An admin confirms a recall: the first line gives back every server before it starts.
    const { release } = createPlanningUseCases(dataSource, null);
    const released = await dataSource.transaction((manager) =>
      release.releaseWithin(manager, first, null, new Date(), {
        actorId: null,
        actorKind: 'system',
        requestId: null,
        reason: 'recall confirmed',
      }),
    );
    expect(released).toMatchObject({ gpuModel: 'MI300X', fullyReleased: true });
    expect(released.releasedNodeIds).toHaveLength(4);
    const replanned = await planning.replan('MI300X');
    expect(replanned).toMatchObject({ placed: 1 });
    expect((await planRows(dataSource, [waiting]))[0].status).toBe('placed');
    const [status] = await dataSource.query<{ status: string }[]>(
      'SELECT status FROM reservations WHERE allocation_id = $1',
      [first],
    );
    expect(status.status).toBe('released');
    expect(await overlaps(dataSource)).toBe(0);
  });
});
