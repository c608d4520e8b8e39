import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { displayRatio, meteredGpuSeconds } from '../../libs/domain/src/index.js';
import { createPlanningUseCases } from '../../libs/application/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import { JobProducer } from '../../libs/queues/src/index.js';
import { seedPool } from '../factories/pool-fixtures.js';
import { makeUser } from '../factories/program.factory.js';
import {
  grantAll,
  seedApprovedReservedRequests,
  seedReservedProgram,
} from '../factories/reservation-fixtures.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

/** The scheduler's use-it-or-lose-it sweep, run in process. */
const proposeRecalls = (db: DataSource, now: Date) =>
  createPlanningUseCases(db, null).proposeRecalls.execute(now);

type Header = [string, string];
const DAY = 86_400_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY30 = {
  id: 'day30',
  at: { days: 30 },
  usedBelowBasisPoints: 1000,
  recall: { remainingBasisPoints: 5000 },
};

/** The API.md error body: `{ error: { code, message, details? } }` and nothing else. */
function expectErrorBody(body: unknown, code: string): void {
  expect(body).toEqual({
    error: expect.objectContaining({ code, message: expect.any(String) }) as unknown,
  });
  const error = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(error).every((key) => ['code', 'message', 'details', 'errorId'].includes(key))).toBe(
    true,
  );
  expect((error.message as string).length).toBeGreaterThan(0);
}

describe('reserved-server recalls over HTTP (e2e)', () => {
  let api: ApiHarness;
  let db: DataSource;
  let admin: Header;
  let member: Header;
  let allocationId: string;
  let startsAt: Date;
  let endsAt: Date;
  let proposalId: string;
  const auth = (token: string): Header => ['authorization', `Bearer ${token}`];

  beforeAll(async () => {
    api = await startApi('recalls_reserved');
    db = api.app.get(DataSource);
    admin = auth(api.adminToken);
    const anchor = Math.floor(Date.now() / MINUTE) * MINUTE;
    await seedPool(db, { gpuModel: 'H200', nodes: 4, domains: 1 });
    const program = await seedReservedProgram(db, {
      startsAt: new Date(anchor - 60 * DAY),
      endsAt: new Date(anchor + 80 * DAY),
      budgetGpuSeconds: { H200: 10n ** 12n },
      sectorTargets: { national: 100, industry: 0, academia: 0 },
    });
    const policy = await api.http
      .put(`/v1/programs/${program.programId}/usage-policy`)
      .set(...admin)
      .send({ onExhaustion: 'finish', recallRules: [DAY30] });
    expect(policy.status).toBe(200);

    // Four servers reserved since 31 days ago for 90 days, placed by the planner with its clock then.
    startsAt = new Date(anchor - 31 * DAY);
    endsAt = new Date(startsAt.getTime() + 90 * DAY);
    const [requestId] = await seedApprovedReservedRequests(
      db,
      program,
      [{ organizationType: 'research_institute', gpuModel: 'H200', servers: 4, startsAt, endsAt }],
      new Date(startsAt.getTime() - 3 * DAY),
    );
    [allocationId] = await grantAll(db, [requestId]);
    await createPlanningUseCases(db, null).planning.replan('H200', {
      clock: () => new Date(startsAt.getTime() - DAY),
    });

    // 10 GPU-hours used.
    const endedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 2 * HOUR);
    const startedAt = new Date(endedAt.getTime() - 10 * HOUR);
    const stored = await storeUsageBatch(db, null, [
      {
        source: 'reserved-cluster',
        externalId: randomUUID(),
        allocationId,
        workloadId: null,
        gpuModel: 'H200',
        gpus: 1,
        startedAt,
        endedAt,
        gpuSeconds: meteredGpuSeconds(1, startedAt, endedAt),
        late: false,
      },
    ]);
    await postUsageBatch(db, stored.batchId!);

    const user = await makeUser(db);
    const [project] = await db.query<{ project_id: string }[]>(
      'SELECT project_id FROM allocations WHERE id = $1',
      [allocationId],
    );
    await db.query(`INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'member')`, [
      project.project_id,
      user.id,
    ]);
    member = auth(await api.login(user.email, user.password));
  });
  afterAll(async () => {
    await api?.close();
  });

  it('GET /v1/allocations/:id shows the utilization of the server time reserved so far, exact', async () => {
    const before = Date.now();
    const response = await api.http.get(`/v1/allocations/${allocationId}`).set(...member);
    const after = Date.now();
    expect(response.status).toBe(200);
    const utilization = response.body.utilization as {
      usedGpuSeconds: string;
      reservedGpuSeconds: string;
      ratio: number;
    };
    expect(utilization.usedGpuSeconds).toBe('36000');
    // 4 servers × 8 GPUs × the whole seconds elapsed since the window opened (read during the call).
    const elapsed = (instant: number) => BigInt(Math.floor((instant - startsAt.getTime()) / 1000));
    const reserved = BigInt(utilization.reservedGpuSeconds);
    expect(reserved).toBeGreaterThanOrEqual(32n * elapsed(before));
    expect(reserved).toBeLessThanOrEqual(32n * elapsed(after));
    expect(reserved % 32n).toBe(0n);
    expect(utilization.ratio).toBe(displayRatio(36_000n, reserved));
    expect(response.body).toMatchObject({ kind: 'reserved', servers: 4, reservation: { status: 'placed' } });
  });

  it('lists the proposal to release 2 of the 4 servers with its remaining server time', async () => {
    await expect(proposeRecalls(db, new Date())).resolves.toMatchObject({ proposals: 1 });
    const list = await api.http.get(`/v1/recall-proposals?allocationId=${allocationId}`).set(...admin);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    const proposal = list.body.items[0] as Record<string, unknown>;
    expect(proposal).toMatchObject({
      allocationId,
      ruleId: 'day30',
      status: 'proposed',
      servers: { proposed: 2, heldWhenProposed: 4, released: null },
      recalled: null,
    });
    proposalId = proposal.id as string;
  });

  describe('POST /v1/recall-proposals/:id/confirm answers bad input with the API.md error body', () => {
    it('401 without a token', async () => {
      const response = await api.http.post(`/v1/recall-proposals/${proposalId}/confirm`);
      expect(response.status).toBe(401);
      expectErrorBody(response.body, 'UNAUTHENTICATED');
    });

    it('403 for a member of the project', async () => {
      const response = await api.http.post(`/v1/recall-proposals/${proposalId}/confirm`).set(...member);
      expect(response.status).toBe(403);
      expectErrorBody(response.body, 'ROLE_REQUIRED');
      expect(response.body.error.details).toEqual({ requiredRoles: ['admin'] });
    });

    it('400 for an id that is not a UUID', async () => {
      const response = await api.http.post('/v1/recall-proposals/not-a-uuid/confirm').set(...admin);
      expect(response.status).toBe(400);
      expectErrorBody(response.body, 'VALIDATION_FAILED');
    });

    it('400 for a body with any field (servers and amounts follow from the proposal)', async () => {
      const response = await api.http
        .post(`/v1/recall-proposals/${proposalId}/confirm`)
        .set(...admin)
        .send({ servers: 1 });
      expect(response.status).toBe(400);
      expectErrorBody(response.body, 'VALIDATION_FAILED');
      const dismiss = await api.http
        .post(`/v1/recall-proposals/${proposalId}/dismiss`)
        .set(...admin)
        .send({ reason: 'no' });
      expect(dismiss.status).toBe(400);
      expectErrorBody(dismiss.body, 'VALIDATION_FAILED');
    });

    it('404 for an unknown proposal', async () => {
      const response = await api.http.post(`/v1/recall-proposals/${randomUUID()}/confirm`).set(...admin);
      expect(response.status).toBe(404);
      expectErrorBody(response.body, 'NOT_FOUND');
    });

    it('nothing was released by any of them', async () => {
      const [row] = await db.query<{ status: string; n: number }[]>(
        `SELECT p.status, (SELECT count(*)::int FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id
                            WHERE r.allocation_id = p.allocation_id AND upper(rn.during) = $2) AS n
           FROM recall_proposals p WHERE p.id = $1`,
        [proposalId, endsAt],
      );
      expect(row).toEqual({ status: 'proposed', n: 4 });
    });
  });

  it('confirm releases 2 servers and re-plans the model; confirming again is a 409', async () => {
    const response = await api.http.post(`/v1/recall-proposals/${proposalId}/confirm`).set(...admin);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'confirmed',
      servers: { proposed: 2, heldWhenProposed: 4, released: 2 },
      recalled: { gpuSeconds: expect.stringMatching(/^[1-9]\d*$/) as unknown },
    });
    const at = Math.ceil(new Date(response.body.decidedAt as string).getTime() / 1000) * 1000;
    expect(response.body.recalled.gpuSeconds).toBe((16n * BigInt((endsAt.getTime() - at) / 1000)).toString());

    const allocation = await api.http.get(`/v1/allocations/${allocationId}`).set(...admin);
    expect(allocation.body.returned).toEqual(response.body.recalled);
    const nodes = allocation.body.reservation.nodes as { endsAt: string }[];
    expect(nodes.filter((node) => new Date(node.endsAt).getTime() === at)).toHaveLength(2);

    const jobs = await api.app
      .get(JobProducer)
      .queue('planning')
      .getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.map((job) => [job.name, job.data as unknown])).toEqual([
      ['planning.replan', { gpuModel: 'H200' }],
    ]);

    const again = await api.http.post(`/v1/recall-proposals/${proposalId}/confirm`).set(...admin);
    expect(again.status).toBe(409);
    expectErrorBody(again.body, 'ILLEGAL_TRANSITION');
    expect(again.body.error.details).toEqual({ status: 'confirmed', action: 'confirm' });
  });
});
