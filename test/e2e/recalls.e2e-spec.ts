import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { meteredGpuSeconds } from '../../libs/domain/src/index.js';
import { createPlanningUseCases } from '../../libs/application/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import { grantUseCase } from '../support/grant.js';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';
import { makeUser } from '../factories/program.factory.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

/** The scheduler's use-it-or-lose-it sweep, run in process. */
const proposeRecalls = (db: DataSource, now: Date) =>
  createPlanningUseCases(db, null).proposeRecalls.execute(now);

type Header = [string, string];
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const DAY30 = {
  id: 'day30',
  at: { days: 30 },
  usedBelowBasisPoints: 1000,
  recall: { remainingBasisPoints: 2500 },
};

function program(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    code: `RECALL-${randomUUID().slice(0, 8)}`,
    name: 'Use-it-or-lose-it call',
    agencyCode: 'NIPA',
    fiscalYear: 2026,
    startsAt: '2026-02-01T00:00:00Z',
    endsAt: '2026-03-01T00:00:00Z',
    budgets: [{ gpuModel: 'H100', gpuHours: 1000 }],
    subsidyRates: { university: 1 },
    eligibleOrganizationTypes: ['university'],
    tracks: [{ code: 'small', kind: 'gpu', minGpus: 1, maxGpus: 4 }],
    rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 5 }],
    ...overrides,
  };
}

interface Seeded {
  allocationId: string;
  programId: string;
  projectId: string;
  member: Header;
}

describe('program usage policy and recalls (e2e)', () => {
  let api: ApiHarness;
  let db: DataSource;
  let admin: Header;
  let researcher: Header;

  const auth = (token: string): Header => ['authorization', `Bearer ${token}`];

  /**
   * A 1,000 GPU-hour allocation whose window opened 31 days ago, with 10 GPU-hours used (1%), its
   * program given the day-30 rule through the API, and a member who can sign in.
   */
  async function underUsedAllocation(): Promise<Seeded> {
    const approved = await seedApprovedRequest(db, {
      grantedGpuHours: [1000n],
      startsAt: new Date(Date.now() - 31 * DAY_MS),
      endsAt: new Date(Date.now() + 150 * DAY_MS),
    });
    const granted = await grantUseCase(db).execute(approved.requestId);
    if (granted.outcome !== 'granted') throw new Error(`grant failed: ${granted.outcome}`);
    const allocationId = granted.allocationIds[0];
    const policy = await api.http
      .put(`/v1/programs/${approved.programId}/usage-policy`)
      .set(...admin)
      .send({ onExhaustion: 'finish', recallRules: [DAY30] });
    expect(policy.status).toBe(200);

    const endedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 2 * HOUR_MS);
    const startedAt = new Date(endedAt.getTime() - 10 * HOUR_MS);
    const stored = await storeUsageBatch(db, null, [
      {
        source: 'chc-gpu-1',
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
    await db.query(`INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'member')`, [
      approved.projectId,
      user.id,
    ]);
    return {
      allocationId,
      programId: approved.programId,
      projectId: approved.projectId,
      member: auth(await api.login(user.email, user.password)),
    };
  }

  async function proposalOf(allocationId: string): Promise<Record<string, unknown>> {
    const list = await api.http.get(`/v1/recall-proposals?allocationId=${allocationId}`).set(...admin);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    return list.body.items[0] as Record<string, unknown>;
  }

  const recallPostings = (proposalId: string) =>
    db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ledger_transactions WHERE kind = 'recall' AND idempotency_key = $1`,
      [`recall:${proposalId}`],
    );

  beforeAll(async () => {
    api = await startApi('recalls');
    db = api.app.get(DataSource);
    admin = auth(api.adminToken);
    const user = await makeUser(db);
    researcher = auth(await api.login(user.email, user.password));
    await api.http
      .post('/v1/agencies')
      .set(...admin)
      .send({ code: 'NIPA', name: 'NIPA' })
      .expect(201);
  });
  afterAll(async () => {
    await api?.close();
  });

  describe('program usage policy', () => {
    it('creates a program with onExhaustion and recall rules, each rule with its sentence', async () => {
      const created = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(program({ onExhaustion: 'stop', recallRules: [DAY30] }));
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        onExhaustion: 'stop',
        recallRules: [
          { ...DAY30, description: 'at day 30, under 10% used: 25% of the remainder returns to the program' },
        ],
      });
      const read = await api.http.get(`/v1/programs/${created.body.id as string}`).set(...researcher);
      expect(read.body).toMatchObject({ onExhaustion: 'stop', recallRules: created.body.recallRules });

      const defaults = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(program());
      expect(defaults.status).toBe(201);
      expect(defaults.body).toMatchObject({ onExhaustion: 'finish', recallRules: [] });
    });

    it('refuses bad recall rules with 400 naming every problem, and writes nothing', async () => {
      const code = `BAD-${randomUUID().slice(0, 8)}`;
      const response = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(
          program({
            code,
            recallRules: [
              DAY30,
              { ...DAY30, id: 'day60', usedBelowBasisPoints: 12_000 },
              {
                id: 'q1',
                at: { weeks: 4 },
                usedBelowBasisPoints: 1000,
                recall: { remainingBasisPoints: 5000 },
              },
              DAY30,
            ],
          }),
        );
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_RECALL_RULES');
      expect(
        (response.body.error.details.problems as { field: string }[]).map((problem) => problem.field).sort(),
      ).toEqual(['rules[1].usedBelowBasisPoints', 'rules[2].at', 'rules[3].id']);
      const [count] = await db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM programs WHERE code = $1',
        [code],
      );
      expect(count.n).toBe(0);

      const badPolicy = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(program({ onExhaustion: 'pause' }));
      expect(badPolicy.status).toBe(400);
      expect(badPolicy.body.error.details).toEqual([{ field: 'onExhaustion', message: expect.any(String) }]);
    });

    it('replaces the policy with PUT (admin, audited); bad rules change nothing', async () => {
      const created = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(program());
      const id = created.body.id as string;
      const updated = await api.http
        .put(`/v1/programs/${id}/usage-policy`)
        .set(...admin)
        .send({ onExhaustion: 'stop', recallRules: [DAY30] });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ id, onExhaustion: 'stop', recallRules: [{ id: 'day30' }] });

      const bad = await api.http
        .put(`/v1/programs/${id}/usage-policy`)
        .set(...admin)
        .send({ onExhaustion: 'finish', recallRules: [{ id: '', at: { days: 0 } }] });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('INVALID_RECALL_RULES');
      const missing = await api.http
        .put(`/v1/programs/${id}/usage-policy`)
        .set(...admin)
        .send({ onExhaustion: 'stop' });
      expect(missing.status).toBe(400);
      const forbidden = await api.http
        .put(`/v1/programs/${id}/usage-policy`)
        .set(...researcher)
        .send({ onExhaustion: 'finish', recallRules: [] });
      expect(forbidden.status).toBe(403);
      const unknown = await api.http
        .put(`/v1/programs/${randomUUID()}/usage-policy`)
        .set(...admin)
        .send({ onExhaustion: 'finish', recallRules: [] });
      expect(unknown.status).toBe(404);

      // The requeue limit after infrastructure failures: 3 unless set, 0..20.
      expect(created.body).toMatchObject({ infrastructureRequeueLimit: 3 });
      for (const limit of [-1, 21, 1e30, 2.5, '3']) {
        const refused = await api.http
          .put(`/v1/programs/${id}/usage-policy`)
          .set(...admin)
          .send({ onExhaustion: 'stop', recallRules: [DAY30], infrastructureRequeueLimit: limit });
        expect(refused.status).toBe(400);
        expect(refused.body.error.details).toEqual([
          {
            field: 'infrastructureRequeueLimit',
            message: 'must be a whole number from 0 to 20',
          },
        ]);
      }
      const limited = await api.http
        .put(`/v1/programs/${id}/usage-policy`)
        .set(...admin)
        .send({ onExhaustion: 'stop', recallRules: [DAY30], infrastructureRequeueLimit: 0 });
      expect(limited.body).toMatchObject({ infrastructureRequeueLimit: 0 });

      const read = await api.http.get(`/v1/programs/${id}`).set(...admin);
      expect(read.body).toMatchObject({
        onExhaustion: 'stop',
        recallRules: [{ id: 'day30' }],
        infrastructureRequeueLimit: 0,
      });
      const audit = await db.query<{ action: string; before: unknown; after: unknown }[]>(
        `SELECT action, before, after FROM audit_events
          WHERE subject_type = 'program' AND subject_id = $1 AND action = 'program.usage_policy_changed'
          ORDER BY id`,
        [id],
      );
      expect(audit).toEqual([
        {
          action: 'program.usage_policy_changed',
          before: { onExhaustion: 'finish', recallRules: [], infrastructureRequeueLimit: 3 },
          after: {
            onExhaustion: 'stop',
            recallRules: [expect.objectContaining({ id: 'day30' })],
            infrastructureRequeueLimit: 3,
          },
        },
        {
          action: 'program.usage_policy_changed',
          before: expect.objectContaining({ infrastructureRequeueLimit: 3 }) as unknown,
          after: expect.objectContaining({ infrastructureRequeueLimit: 0 }) as unknown,
        },
      ]);
    });
  });

  describe('recall proposals', () => {
    let confirmed: Seeded;
    let dismissed: Seeded;

    it('lists the proposal the sweep made (admin only), and the project was told', async () => {
      confirmed = await underUsedAllocation();
      dismissed = await underUsedAllocation();
      const sweep = await proposeRecalls(db, new Date());
      expect(sweep.proposals).toBe(2);

      const proposal = await proposalOf(confirmed.allocationId);
      // 1,000 GPU-hours granted, 10 used: 25% of the 990 left.
      expect(proposal).toMatchObject({
        allocationId: confirmed.allocationId,
        projectId: confirmed.projectId,
        programId: confirmed.programId,
        gpuModel: 'H200',
        ruleId: 'day30',
        status: 'proposed',
        proposed: { gpuSeconds: '891000', gpuHours: '247.5' },
        recalled: null,
        usedBasisPoints: 100,
        decidedBy: null,
        decidedAt: null,
      });
      const byProgram = await api.http
        .get(`/v1/recall-proposals?programId=${confirmed.programId}&status=proposed`)
        .set(...admin);
      expect(byProgram.body.items.map((item: { id: string }) => item.id)).toEqual([proposal.id]);
      const paged = await api.http.get('/v1/recall-proposals?status=proposed&limit=1').set(...admin);
      expect(paged.body.items).toHaveLength(1);
      expect(paged.body.nextCursor).toEqual(expect.any(String));

      const refused = await api.http.get('/v1/recall-proposals').set(...confirmed.member);
      expect(refused.status).toBe(403);
      const notifications = await api.http
        .get(`/v1/notifications?projectId=${confirmed.projectId}&kind=recall_proposed`)
        .set(...confirmed.member);
      expect(notifications.body.items).toEqual([
        expect.objectContaining({
          allocationId: confirmed.allocationId,
          body: expect.stringContaining('Up to 247.5 GPU-hours'),
        }),
      ]);
    });

    it('confirm returns the amount to the program once; a replay with the same key answers the same, a new confirm 409', async () => {
      const proposal = await proposalOf(confirmed.allocationId);
      const path = `/v1/recall-proposals/${proposal.id as string}/confirm`;
      const key = `confirm-${proposal.id as string}`;
      const first = await api.http
        .post(path)
        .set(...admin)
        .set('idempotency-key', key);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        id: proposal.id,
        status: 'confirmed',
        recalled: { gpuSeconds: '891000', gpuHours: '247.5' },
        decidedBy: expect.any(String),
        decidedAt: expect.any(String),
      });
      const replay = await api.http
        .post(path)
        .set(...admin)
        .set('idempotency-key', key);
      expect(replay.status).toBe(200);
      expect(replay.body).toEqual(first.body);
      const again = await api.http.post(path).set(...admin);
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({
        code: 'ILLEGAL_TRANSITION',
        details: { status: 'confirmed', action: 'confirm' },
      });
      expect(await recallPostings(proposal.id as string)).toEqual([{ n: 1 }]);

      const allocation = await api.http
        .get(`/v1/allocations/${confirmed.allocationId}`)
        .set(...confirmed.member);
      expect(allocation.body).toMatchObject({
        granted: { gpuSeconds: '3600000' },
        consumed: { gpuSeconds: '36000' },
        held: { gpuSeconds: '0' },
        returned: { gpuSeconds: '891000' },
        remaining: { gpuSeconds: '2673000' },
      });
      const sum = ['remaining', 'held', 'consumed', 'returned']
        .map((field) => BigInt((allocation.body[field] as { gpuSeconds: string }).gpuSeconds))
        .reduce((total, value) => total + value, 0n);
      expect(sum).toBe(3_600_000n);

      const told = await api.http
        .get(`/v1/notifications?allocationId=${confirmed.allocationId}&kind=recall_confirmed`)
        .set(...confirmed.member);
      expect(told.body.items).toEqual([
        expect.objectContaining({ body: expect.stringContaining('confirmed the recall of 247.5 GPU-hours') }),
      ]);
      const audit = await db.query<{ action: string }[]>(
        `SELECT action FROM audit_events WHERE subject_type = 'recall_proposal' AND subject_id = $1`,
        [proposal.id],
      );
      expect(audit).toEqual([{ action: 'recall.confirmed' }]);
    });

    it('dismiss takes nothing and is final', async () => {
      const proposal = await proposalOf(dismissed.allocationId);
      const before = await api.http.get(`/v1/allocations/${dismissed.allocationId}`).set(...admin);
      const response = await api.http
        .post(`/v1/recall-proposals/${proposal.id as string}/dismiss`)
        .set(...admin);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        status: 'dismissed',
        recalled: null,
        decidedBy: expect.any(String),
      });
      for (const action of ['confirm', 'dismiss']) {
        const late = await api.http
          .post(`/v1/recall-proposals/${proposal.id as string}/${action}`)
          .set(...admin);
        expect(late.status).toBe(409);
        expect(late.body.error.code).toBe('ILLEGAL_TRANSITION');
      }
      const after = await api.http.get(`/v1/allocations/${dismissed.allocationId}`).set(...admin);
      expect(after.body.remaining).toEqual(before.body.remaining);
      expect(after.body.returned).toEqual({ gpuSeconds: '0', gpuHours: '0' });
      expect(await recallPostings(proposal.id as string)).toEqual([{ n: 0 }]);
      const statuses = await api.http
        .get(`/v1/recall-proposals?programId=${dismissed.programId}&status=dismissed`)
        .set(...admin);
      expect(statuses.body.items.map((item: { id: string }) => item.id)).toEqual([proposal.id]);
    });

    it('answers 403 to non-admins, 404 to unknown proposals and 400 to malformed ids and filters', async () => {
      const proposal = await proposalOf(dismissed.allocationId);
      const forbidden = await api.http
        .post(`/v1/recall-proposals/${proposal.id as string}/confirm`)
        .set(...dismissed.member);
      expect(forbidden.status).toBe(403);
      const unknown = await api.http.post(`/v1/recall-proposals/${randomUUID()}/confirm`).set(...admin);
      expect(unknown.status).toBe(404);
      expect((await api.http.post('/v1/recall-proposals/nope/dismiss').set(...admin)).status).toBe(400);
      expect((await api.http.get('/v1/recall-proposals?status=maybe').set(...admin)).status).toBe(400);
    });
  });
});
