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
import { createPlanningUseCases } from '../../libs/application/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { CycleService } from '../../apps/scheduler/src/cycle/cycle.service.js';
import { PlanningReconciler } from '../../apps/scheduler/src/planning/planning-reconciler.service.js';
import { createTestDatabase } from '../support/database.js';
import { workloadUseCases } from '../support/workload-use-cases.js';
import { poolFacts, seedPool, seedQuotas, submitWorkloads } from '../factories/pool-fixtures.js';
import {
  grantAll,
  seedApprovedReservedRequests,
  seedReservedProgram,
  type ReservedProgram,
} from '../factories/reservation-fixtures.js';
import { RecordingProducer } from '../support/recording-producer.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const logger = pino({ level: 'silent' });

interface Span {
  node_id: string;
  node_name: string;
  domain: string;
  starts_at: Date;
  ends_at: Date;
}

/**
 * Capacity loss (issue 7) on a real PostgreSQL: when a node goes down or drains, `planning.replan`
 * moves the reservations holding it to free nodes of the same model from the loss on (or reports
 * them with options when none is free), in one transaction under the model's planning lock, audited
 * and notified once; repeats, the reconciler and the node's return change nothing more.
 *
 * Reservations are planned with a planning clock nine days back, so their windows are under way
 * now and a loss an hour ago falls mid-window.
 */
describe('reservations on capacity loss (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let program: ReservedProgram;
  /** Whole minutes, nine days ago: every line here starts then. */
  const windowStart = new Date(Math.floor((Date.now() - 9 * DAY) / 60_000) * 60_000);
  const at = (days: number) => new Date(windowStart.getTime() + days * DAY);

  beforeAll(async () => {
    database = await createTestDatabase('reservations_capacity_loss');
    dataSource = createDataSource({ url: database.url, poolSize: 4, applicationName: 'capacity-loss-test' });
    await dataSource.initialize();
    program = await seedReservedProgram(dataSource, {
      startsAt: new Date(windowStart.getTime() - 10 * DAY),
      endsAt: new Date(windowStart.getTime() + 120 * DAY),
      budgetGpuSeconds: { A100: 10n ** 13n, H800: 10n ** 13n, L4: 10n ** 13n, V100: 10n ** 13n },
      // One sector only, so the targets play no part here.
      sectorTargets: { national: 100, industry: 0, academia: 0 },
    });
  });
  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** Approved, granted and planned (with the clock a day before the window) reserved lines. */
  async function placeLines(
    gpuModel: string,
    lines: { servers: number; days: number; sameInterconnectDomain?: boolean }[],
  ): Promise<string[]> {
    const requestIds = await seedApprovedReservedRequests(
      dataSource,
      program,
      lines.map((line) => ({
        organizationType: 'research_institute',
        gpuModel,
        servers: line.servers,
        startsAt: windowStart,
        endsAt: at(line.days),
        sameInterconnectDomain: line.sameInterconnectDomain ?? false,
      })),
      new Date(windowStart.getTime() - 2 * DAY),
    );
    const allocationIds = await grantAll(dataSource, requestIds);
    const { planning } = createPlanningUseCases(dataSource, null);
    await planning.replan(gpuModel, { clock: () => new Date(windowStart.getTime() - DAY) });
    const placed = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM reservation_plans WHERE allocation_id = ANY($1) AND status = 'placed'`,
      [allocationIds],
    );
    expect(placed[0].n).toBe(lines.length);
    return allocationIds;
  }

  /** What the node API writes on a state change: the state and its audit event (`agoMs` back). */
  async function setNodeState(nodeId: string, state: 'up' | 'down' | 'draining', agoMs = 0): Promise<number> {
    return dataSource.transaction(async (manager) => {
      const [node] = await manager.query<{ state: string }[]>(
        'SELECT state FROM nodes WHERE id = $1 FOR UPDATE',
        [nodeId],
      );
      await manager.query(
        `UPDATE nodes SET state = $2, state_reason = $3, updated_at = now() WHERE id = $1`,
        [nodeId, state, state === 'up' ? null : 'GPU Xid 79'],
      );
      const [event] = await manager.query<{ created_at: Date }[]>(
        `INSERT INTO audit_events (actor_id, actor_kind, action, subject_type, subject_id, before, after, created_at)
         VALUES (NULL, 'system', 'node.state_changed', 'node', $1, $2::jsonb, $3::jsonb,
                 now() - $4::int * interval '1 millisecond')
         RETURNING created_at`,
        [
          nodeId,
          JSON.stringify({ id: nodeId, state: node.state }),
          JSON.stringify({ id: nodeId, state }),
          agoMs,
        ],
      );
      return Math.floor(event.created_at.getTime() / 1000);
    });
  }

  async function spansOf(allocationId: string): Promise<Span[]> {
    return dataSource.query<Span[]>(
      `SELECT rn.node_id, n.name AS node_name, n.interconnect_domain AS domain, lower(rn.during) AS starts_at,
              upper(rn.during) AS ends_at
         FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id JOIN nodes n ON n.id = rn.node_id
        WHERE r.allocation_id = $1
        ORDER BY lower(rn.during), n.name`,
      [allocationId],
    );
  }

  function cycles(): CycleService {
    return new CycleService(
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
  }

  async function placementOf(workloadId: string): Promise<{ state: string; nodes: string[] }> {
    const [row] = await dataSource.query<{ state: string; nodes: string[] | null }[]>(
      `SELECT w.state, array_agg(p.node_id::text ORDER BY p.node_id) FILTER (WHERE p.node_id IS NOT NULL) AS nodes
         FROM workloads w LEFT JOIN workload_placements p ON p.workload_id = w.id
        WHERE w.id = $1 GROUP BY w.id`,
      [workloadId],
    );
    return { state: row.state, nodes: row.nodes ?? [] };
  }

  /** Pairs of spans holding one node at once, across every reservation: the double-booking check. */
  async function overlaps(): Promise<number> {
    const [row] = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM reservation_nodes x JOIN reservation_nodes y
          ON x.node_id = y.node_id AND (x.reservation_id, x.during) <> (y.reservation_id, y.during)
         AND x.during && y.during`,
    );
    return row.n;
  }

  async function notificationsOf(allocationId: string) {
    return dataSource.query<
      {
        project_id: string | null;
        kind: string;
        dedupe_key: string;
        body: string;
        data: Record<string, unknown>;
      }[]
    >(
      `SELECT project_id, kind, dedupe_key, body, data FROM notifications WHERE allocation_id = $1
        ORDER BY project_id NULLS LAST, created_at`,
      [allocationId],
    );
  }

  async function projectOf(allocationId: string): Promise<string> {
    const [row] = await dataSource.query<{ project_id: string }[]>(
      'SELECT project_id FROM allocations WHERE id = $1',
      [allocationId],
    );
    return row.project_id;
  }

  /** Everything capacity loss may write, for "changes nothing" comparisons. */
  async function digest(): Promise<string[]> {
    const rows: string[] = [];
    for (const table of [
      'reservations',
      'reservation_nodes',
      'reservation_plans',
      'allocations',
      'notifications',
      'webhook_deliveries',
    ]) {
      const [row] = await dataSource.query<{ d: string }[]>(
        `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d FROM ${table} t`,
      );
      rows.push(`${table}:${row.d}`);
    }
    const [audit] = await dataSource.query<{ n: string }[]>('SELECT count(*)::text AS n FROM audit_events');
    rows.push(`audit:${audit.n}`);
    return rows;
  }

  describe('a node down mid-window with a free node of the model', () => {
    let owner: string;
    let other: string;
    let lostNode: string;
    let keptNode: string;
    let freeNode: string;
    let lostAt: number;
    let nodeIds: string[];
    let sharedWorkload: string;

    beforeAll(async () => {
      ({ nodeIds } = await seedPool(dataSource, { gpuModel: 'A100', nodes: 6, domains: 1 }));
      [owner, other] = await placeLines('A100', [
        { servers: 2, days: 30 },
        { servers: 3, days: 30 },
      ]);
      const held = new Set([...(await spansOf(owner)), ...(await spansOf(other))].map((s) => s.node_id));
      [freeNode] = nodeIds.filter((id) => !held.has(id));
      [lostNode, keptNode] = (await spansOf(owner)).map((span) => span.node_id);
      // Shared work runs on the one node no reservation touches (admitted before any move).
      const [shared] = await seedQuotas(dataSource, 'A100', [
        { grantedGpuHours: 100_000n, maxConcurrentGpus: 8 },
      ]);
      [sharedWorkload] = await submitWorkloads(dataSource, 'A100', [
        {
          quota: shared,
          gpus: 8,
          walltimeSeconds: 10 * 86_400,
          simulatedRuntimeSeconds: 3600,
          name: 'shared',
        },
      ]);
      await cycles().runCycle('A100');
      expect(await placementOf(sharedWorkload)).toEqual({ state: 'admitted', nodes: [freeNode] });
    });

    it('moves the lost server to the free node from the loss on, audited, the owner notified once', async () => {
      // A project webhook for moves: the notice's delivery is written with it (the outbox).
      const [pi] = await dataSource.query<{ pi_user_id: string }[]>(
        'SELECT pi_user_id FROM projects WHERE id = $1',
        [await projectOf(owner)],
      );
      await dataSource.query(
        `INSERT INTO webhook_subscriptions (project_id, url, secret, events, created_by)
         VALUES ($1, 'https://hooks.example.kr/gpupool', 'secret', '{reservation_moved}', $2)`,
        [await projectOf(owner), pi.pi_user_id],
      );
      lostAt = await setNodeState(lostNode, 'down', HOUR);
      expect(
        await createPlanningUseCases(dataSource, null).moves.modelsWithUnhandledLoss(new Date()),
      ).toEqual(['A100']);

      const result = await createPlanningUseCases(dataSource, null).planning.replan('A100');
      expect(result.capacityLoss).toMatchObject({
        gpuModel: 'A100',
        lostNodes: 1,
        affected: 1,
        moved: 1,
        unplaceable: 0,
        notifications: 1,
      });

      const end = at(30);
      const spans = await spansOf(owner);
      expect(spans.map(({ node_id, starts_at, ends_at }) => ({ node_id, starts_at, ends_at }))).toEqual(
        expect.arrayContaining([
          // The lost node served until the loss; the healthy one keeps the window; the free node takes over.
          { node_id: lostNode, starts_at: windowStart, ends_at: new Date(lostAt * 1000) },
          { node_id: keptNode, starts_at: windowStart, ends_at: end },
          { node_id: freeNode, starts_at: new Date(lostAt * 1000), ends_at: end },
        ]),
      );
      expect(spans).toHaveLength(3);
      expect(await overlaps()).toBe(0);
      // The window and the other line are untouched.
      const [allocation] = await dataSource.query<{ starts_at: Date; ends_at: Date }[]>(
        'SELECT starts_at, ends_at FROM allocations WHERE id = $1',
        [owner],
      );
      expect(allocation).toEqual({ starts_at: windowStart, ends_at: end });
      expect((await spansOf(other)).every((span) => span.ends_at.getTime() === end.getTime())).toBe(true);

      const [audit] = await dataSource.query<{ after: Record<string, unknown>; n: number }[]>(
        `SELECT after, count(*) OVER ()::int AS n FROM audit_events
          WHERE action = 'allocation.reservation_moved' AND subject_id = $1`,
        [owner],
      );
      expect(audit).toMatchObject({
        n: 1,
        after: { lostNodeIds: [lostNode], replacementNodeIds: [freeNode] },
      });
      const notices = await notificationsOf(owner);
      expect(notices).toEqual([
        expect.objectContaining({ project_id: await projectOf(owner), kind: 'reservation_moved' }),
      ]);
      const [names] = await dataSource.query<{ lost: string; replacement: string }[]>(
        `SELECT (SELECT name FROM nodes WHERE id = $1) AS lost, (SELECT name FROM nodes WHERE id = $2) AS replacement`,
        [lostNode, freeNode],
      );
      expect(notices[0].body).toContain(`${names.lost} is down since`);
      expect(notices[0].body).toContain(`your reservation holds ${names.replacement}`);
      expect(notices[0].data).toMatchObject({
        lostAt: new Date(lostAt * 1000).toISOString(),
        replacementNodes: [{ id: freeNode, name: names.replacement }],
      });
      const [deliveries] = await dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
          WHERE n.allocation_id = $1`,
        [owner],
      );
      expect(deliveries.n).toBe(1);
      expect(
        await createPlanningUseCases(dataSource, null).moves.modelsWithUnhandledLoss(new Date()),
      ).toEqual([]);
    });

    it('a repeated or redelivered re-plan changes nothing', async () => {
      const before = await digest();
      const planning = createPlanningUseCases(dataSource, null).planning;
      const results = await Promise.all([planning.replan('A100'), planning.replan('A100')]);
      for (const result of results) {
        expect(result.capacityLoss).toMatchObject({ lostNodes: 1, affected: 0, moved: 0, notifications: 0 });
      }
      expect(await digest()).toEqual(before);
    });

    it("runs the owner's workloads on its new nodes, reclaiming them from shared work", async () => {
      const [allocation] = await dataSource.query<{ project_id: string; program_id: string }[]>(
        'SELECT project_id, program_id FROM allocations WHERE id = $1',
        [owner],
      );
      const quota = {
        allocationId: owner,
        projectId: allocation.project_id,
        programId: allocation.program_id,
      };
      const [workload] = await submitWorkloads(dataSource, 'A100', [
        { quota, gpus: 16, walltimeSeconds: 3600, simulatedRuntimeSeconds: 600, name: 'owner-16' },
      ]);
      await cycles().runCycle('A100');
      const placed = await placementOf(workload);
      expect(placed.state).toBe('admitted');
      expect(placed.nodes).toEqual([keptNode, freeNode].sort());
      // The shared workload on the replacement node was reclaimed for the owner (a new attempt, which
      // may be lent idle GPUs of another reservation, never the owner's).
      const [reclaimed] = await dataSource.query<{ attempt: number; end_reason: string | null }[]>(
        'SELECT attempt, end_reason FROM workloads WHERE id = $1',
        [sharedWorkload],
      );
      expect(reclaimed.attempt).toBe(1);
      expect(reclaimed.end_reason).toMatch(/reclaimed by their owner/);
      const after = await placementOf(sharedWorkload);
      expect(after.nodes).not.toContain(freeNode);
      expect(after.nodes).not.toContain(keptNode);
      expect(await poolFacts(dataSource, 'A100')).toMatchObject({ overbooked: 0, mismatched: 0 });
    });

    it('the node coming back up undoes nothing, and its free time is planned without double-booking', async () => {
      await setNodeState(lostNode, 'up');
      const before = await digest();
      const result = await createPlanningUseCases(dataSource, null).planning.replan('A100');
      expect(result.capacityLoss).toMatchObject({ lostNodes: 0, affected: 0, moved: 0 });
      // Only the audit count of the state change itself differs from a run that changed nothing.
      expect(await digest()).toEqual(before);

      // Two one-server lines for the next days: only the returned node is free, so one is placed on
      // it and the other after it, on the same node.
      const [first, second] = await grantAll(
        dataSource,
        await seedApprovedReservedRequests(dataSource, program, [
          {
            organizationType: 'research_institute',
            gpuModel: 'A100',
            servers: 1,
            startsAt: new Date(Date.now() + DAY),
            endsAt: new Date(Date.now() + 5 * DAY),
          },
          {
            organizationType: 'research_institute',
            gpuModel: 'A100',
            servers: 1,
            startsAt: new Date(Date.now() + DAY),
            endsAt: new Date(Date.now() + 5 * DAY),
          },
        ]),
      );
      await createPlanningUseCases(dataSource, null).planning.replan('A100');
      const [firstSpan] = await spansOf(first);
      const [secondSpan] = await spansOf(second);
      expect(firstSpan.node_id).toBe(lostNode);
      expect(secondSpan.node_id).toBe(lostNode);
      expect(secondSpan.starts_at.getTime()).toBeGreaterThanOrEqual(firstSpan.ends_at.getTime());
      // The moved line still holds its replacement, and nothing overlaps.
      expect((await spansOf(owner)).map((span) => span.node_id)).toContain(freeNode);
      expect(await overlaps()).toBe(0);
    });
  });

  describe('a node down with no free node of the model', () => {
    let owner: string;
    let other: string;
    let lostNode: string;
    let keptNode: string;
    let lostAt: number;

    beforeAll(async () => {
      await seedPool(dataSource, { gpuModel: 'H800', nodes: 4, domains: 1 });
      [owner, other] = await placeLines('H800', [
        { servers: 2, days: 30 },
        { servers: 2, days: 20 },
      ]);
      [lostNode, keptNode] = (await spansOf(owner)).map((span) => span.node_id);
      lostAt = await setNodeState(lostNode, 'draining', HOUR);
    });

    it('the reconciler re-plans a model whose reservation sits on a lost node', async () => {
      const producer = new RecordingProducer();
      const { plans, moves } = createPlanningUseCases(dataSource, null);
      const swept = await new PlanningReconciler(
        plans,
        moves,
        producer as unknown as JobProducer,
        logger,
        HOUR,
      ).sweep();
      expect(swept.capacityLoss).toBe(1);
      expect(producer.jobs).toContainEqual({ name: 'planning.replan', data: { gpuModel: 'H800' } });
    });

    it('keeps the healthy server, cuts the lost one, and tells the owner and the admins the options', async () => {
      const otherBefore = await spansOf(other);
      const result = await createPlanningUseCases(dataSource, null).planning.replan('H800');
      expect(result.capacityLoss).toMatchObject({ affected: 1, moved: 0, unplaceable: 1, notifications: 2 });

      const end = at(30);
      expect(
        (await spansOf(owner)).map(({ node_id, starts_at, ends_at }) => ({ node_id, starts_at, ends_at })),
      ).toEqual(
        expect.arrayContaining([
          { node_id: lostNode, starts_at: windowStart, ends_at: new Date(lostAt * 1000) },
          { node_id: keptNode, starts_at: windowStart, ends_at: end },
        ]),
      );
      expect(await spansOf(owner)).toHaveLength(2);
      // Nothing applied: the other line, the plan and the window are as they were.
      expect(await spansOf(other)).toEqual(otherBefore);
      const [state] = await dataSource.query<{ status: string; starts_at: Date; ends_at: Date }[]>(
        `SELECT p.status, a.starts_at, a.ends_at FROM reservation_plans p JOIN allocations a ON a.id = p.allocation_id
          WHERE p.allocation_id = $1`,
        [owner],
      );
      expect(state).toEqual({ status: 'placed', starts_at: windowStart, ends_at: end });
      expect(await overlaps()).toBe(0);

      const notices = await notificationsOf(owner);
      expect(notices.map((n) => [n.project_id, n.kind])).toEqual([
        [await projectOf(owner), 'reservation_unplaceable'],
        [null, 'reservation_unplaceable'],
      ]);
      const remaining = end.getTime() - lostAt * 1000;
      for (const notice of notices) {
        expect(notice.data.options).toEqual([
          {
            kind: 'fewer_servers_now',
            servers: 1,
            startsAt: new Date(lostAt * 1000).toISOString(),
            endsAt: end.toISOString(),
          },
          // The whole line when the other line's two servers come free.
          {
            kind: 'later_start',
            startsAt: at(20).toISOString(),
            endsAt: new Date(at(20).getTime() + remaining).toISOString(),
          },
        ]);
        expect(notice.body).toContain('The reservation keeps 1 of 2 servers');
        expect(notice.body).toContain(
          'Options: (1) keep the window with 1 server; (2) run the whole line from',
        );
        expect(notice.body).toContain('None of these is applied');
        // Node names for people, never ids.
        expect(notice.body).not.toContain(lostNode);
        expect(notice.body).not.toContain(keptNode);
      }
      const [audit] = await dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'allocation.reservation_unplaceable' AND subject_id = $1`,
        [owner],
      );
      expect(audit.n).toBe(1);

      const before = await digest();
      await createPlanningUseCases(dataSource, null).planning.replan('H800');
      expect(await digest()).toEqual(before);
      expect(
        await createPlanningUseCases(dataSource, null).moves.modelsWithUnhandledLoss(new Date()),
      ).toEqual([]);
    });
  });

  it('moves a line that lost every server to another cluster of the model, same window', async () => {
    const first = await seedPool(dataSource, { gpuModel: 'V100', nodes: 1, domains: 1 });
    const second = await seedPool(dataSource, { gpuModel: 'V100', nodes: 1, domains: 1 });
    const [line] = await placeLines('V100', [{ servers: 1, days: 30 }]);
    const [placed] = await spansOf(line);
    const [target] = placed.node_id === first.nodeIds[0] ? [second, first] : [first, second];
    const lostAt = await setNodeState(placed.node_id, 'down', HOUR);
    const result = await createPlanningUseCases(dataSource, null).planning.replan('V100');
    expect(result.capacityLoss).toMatchObject({ moved: 1, unplaceable: 0 });
    expect(
      (await spansOf(line)).map(({ node_id, starts_at, ends_at }) => ({ node_id, starts_at, ends_at })),
    ).toEqual([
      { node_id: placed.node_id, starts_at: windowStart, ends_at: new Date(lostAt * 1000) },
      { node_id: target.nodeIds[0], starts_at: new Date(lostAt * 1000), ends_at: at(30) },
    ]);
    const [reservation] = await dataSource.query<{ cluster_id: string }[]>(
      'SELECT cluster_id FROM reservations WHERE allocation_id = $1',
      [line],
    );
    expect(reservation.cluster_id).toBe(target.clusterId);
    const [notice] = await notificationsOf(line);
    expect(notice).toMatchObject({ kind: 'reservation_moved', data: { clusterId: target.clusterId } });
    expect(notice.body).toMatch(/your reservation holds node-0000 in cluster cluster-[0-9a-f]+ instead/);
    expect(await overlaps()).toBe(0);
  });

  describe('a line that asked for one interconnect domain', () => {
    let spread: string;
    let packed: string;

    beforeAll(async () => {
      // Three domains of four nodes: the four-server line fills one, the three-server line sits in
      // another with one node to spare, the third domain is free.
      await seedPool(dataSource, { gpuModel: 'L4', nodes: 12, domains: 3 });
      [packed, spread] = await placeLines('L4', [
        { servers: 4, days: 30, sameInterconnectDomain: true },
        { servers: 3, days: 30, sameInterconnectDomain: true },
      ]);
    });

    it('moves a lost server to a node of the same domain', async () => {
      const [lost] = await spansOf(spread);
      const domain = lost.domain;
      const lostAt = await setNodeState(lost.node_id, 'down', HOUR);
      const result = await createPlanningUseCases(dataSource, null).planning.replan('L4');
      expect(result.capacityLoss).toMatchObject({ moved: 1, unplaceable: 0 });
      const now = (await spansOf(spread)).filter((span) => span.ends_at.getTime() > lostAt * 1000);
      expect(now).toHaveLength(3);
      expect(now.every((span) => span.domain === domain && span.node_id !== lost.node_id)).toBe(true);
      expect(await overlaps()).toBe(0);
    });

    it('reports a line whose domain has no free node, offering the whole line in a free domain', async () => {
      const [lost] = await spansOf(packed);
      const lostAt = await setNodeState(lost.node_id, 'down', HOUR / 2);
      const result = await createPlanningUseCases(dataSource, null).planning.replan('L4');
      expect(result.capacityLoss).toMatchObject({ moved: 0, unplaceable: 1 });
      const held = (await spansOf(packed)).filter((span) => span.ends_at.getTime() > lostAt * 1000);
      expect(held).toHaveLength(3);
      expect(new Set(held.map((span) => span.domain)).size).toBe(1);

      const [notice] = await notificationsOf(packed);
      const options = notice.data.options as { kind: string; nodes?: { id: string }[] }[];
      const whole = options.find((option) => option.kind === 'move_whole_line');
      expect(whole?.nodes).toHaveLength(4);
      const domains = await dataSource.query<{ domain: string }[]>(
        'SELECT DISTINCT interconnect_domain AS domain FROM nodes WHERE id = ANY($1)',
        [whole!.nodes!.map((node) => node.id)],
      );
      expect(domains).toHaveLength(1);
      const used = new Set(
        [...(await spansOf(packed)), ...(await spansOf(spread))].map((span) => span.domain),
      );
      expect(used.has(domains[0].domain)).toBe(false);
      expect(await overlaps()).toBe(0);
    });
  });
});
