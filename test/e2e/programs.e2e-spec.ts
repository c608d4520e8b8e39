import type { DataSource } from 'typeorm';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { ProgramReader } from '../../libs/application/src/index.js';
import {
  makeGrantedAllocation,
  makeOrganization,
  makeProject,
  makeUser,
  type UserFixture,
} from '../factories/program.factory.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

const HOUR = 3600n;

function validProgram(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    code: 'AI-GPU-2026-1',
    name: '2026 AI computing support, first call',
    agencyCode: 'MSIT',
    fiscalYear: 2026,
    startsAt: '2026-02-01T00:00:00Z',
    endsAt: '2026-03-01T00:00:00Z',
    budgets: [
      { gpuModel: 'H100', gpuHours: 1000 },
      // The largest line the API takes: 3.6e11 GPU-seconds, past what a 32-bit number holds.
      { gpuModel: 'B200', gpuHours: 100_000_000 },
    ],
    subsidyRates: { university: 1, sme: 0.7, youth_startup: 0.29 },
    eligibleOrganizationTypes: ['university', 'research_institute', 'sme', 'youth_startup'],
    tracks: [
      { code: 'small', kind: 'gpu', minGpus: 1, maxGpus: 4 },
      { code: 'servers', kind: 'server', minGpus: 8, maxGpus: 64, gpusPerServer: 8 },
    ],
    rubric: [
      { key: 'merit', label: 'Scientific merit', weight: 3, maxScore: 5 },
      { key: 'feasibility', label: 'Feasibility', weight: 2, maxScore: 5 },
    ],
    ...overrides,
  };
}

describe('programs, agencies, reviewers and allocations', () => {
  let api: ApiHarness;
  let db: DataSource;
  let auth: (token: string) => [string, string];
  let admin: [string, string];
  let researcher: UserFixture;
  let researcherToken: string;
  let programId: string;

  beforeAll(async () => {
    api = await startApi('programs');
    db = createDataSource({ url: api.databaseUrl, poolSize: 2, applicationName: 'programs-e2e' });
    await db.initialize();
    auth = (token) => ['authorization', `Bearer ${token}`];
    admin = auth(api.adminToken);
    researcher = await makeUser(db, { organizationId: await makeOrganization(db) });
    researcherToken = await api.login(researcher.email, researcher.password);
  });
  afterAll(async () => {
    await db?.destroy();
    await api?.close();
  });

  describe('agencies', () => {
    it('creates an agency once, lists it, and refuses a duplicate with 409', async () => {
      const created = await api.http
        .post('/v1/agencies')
        .set(...admin)
        .send({ code: 'MSIT', name: 'Ministry of Science and ICT' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ code: 'MSIT', name: 'Ministry of Science and ICT' });
      await api.http
        .post('/v1/agencies')
        .set(...admin)
        .send({ code: 'NIPA', name: 'NIPA' })
        .expect(201);

      const duplicate = await api.http
        .post('/v1/agencies')
        .set(...admin)
        .send({ code: 'MSIT', name: 'Again' });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe('AGENCY_EXISTS');

      const firstPage = await api.http
        .get('/v1/agencies?limit=1')
        .set(...auth(researcherToken))
        .expect(200);
      expect(firstPage.body.items.map((agency: { code: string }) => agency.code)).toEqual(['MSIT']);
      const secondPage = await api.http
        .get(`/v1/agencies?limit=1&cursor=${firstPage.body.nextCursor as string}`)
        .set(...admin)
        .expect(200);
      expect(secondPage.body).toMatchObject({ items: [{ code: 'NIPA' }], nextCursor: null });

      const audit = await db.query(
        `SELECT action FROM audit_events WHERE subject_type = 'agency' AND subject_id = 'MSIT'`,
      );
      expect(audit).toEqual([{ action: 'agency.created' }]);
    });

    it('refuses malformed codes and non-admins', async () => {
      const bad = await api.http
        .post('/v1/agencies')
        .set(...admin)
        .send({ code: 'msit', name: 'x', extra: true });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(bad.body.error.details.map((detail: { field: string }) => detail.field).sort()).toEqual([
        '(body)',
        'code',
      ]);
      const forbidden = await api.http
        .post('/v1/agencies')
        .set(...auth(researcherToken))
        .send({ code: 'KISTI', name: 'KISTI' });
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('ROLE_REQUIRED');
    });
  });

  describe('creating programs', () => {
    it('creates the program with exact budgets and one balanced ledger posting per budget line', async () => {
      const created = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(validProgram());
      expect(created.status).toBe(201);
      programId = created.body.id as string;
      expect(created.body).toMatchObject({
        code: 'AI-GPU-2026-1',
        agencyCode: 'MSIT',
        fiscalYear: 2026,
        startsAt: '2026-02-01T00:00:00.000Z',
        endsAt: '2026-03-01T00:00:00.000Z',
        sectorTargets: { national: 50, industry: 30, academia: 20 },
        subsidyRates: { university: 1, sme: 0.7, youth_startup: 0.29 },
        subsidyRatesBasisPoints: { university: 10000, sme: 7000, youth_startup: 2900 },
      });
      expect(created.body.budgets).toEqual([
        {
          gpuModel: 'B200',
          budget: { gpuSeconds: '360000000000', gpuHours: '100000000' },
          granted: { gpuSeconds: '0', gpuHours: '0' },
          left: { gpuSeconds: '360000000000', gpuHours: '100000000' },
          pending: { gpuSeconds: '0', gpuHours: '0' },
        },
        {
          gpuModel: 'H100',
          budget: { gpuSeconds: '3600000', gpuHours: '1000' },
          granted: { gpuSeconds: '0', gpuHours: '0' },
          left: { gpuSeconds: '3600000', gpuHours: '1000' },
          pending: { gpuSeconds: '0', gpuHours: '0' },
        },
      ]);

      const fetched = await api.http
        .get(`/v1/programs/${programId}`)
        .set(...auth(researcherToken))
        .expect(200);
      expect(fetched.body).toEqual(created.body);

      const entries = await db.query<{ kind: string; account: string; amount: string }[]>(
        `SELECT t.kind, e.account, e.amount::text AS amount FROM ledger_entries e
           JOIN ledger_transactions t ON t.id = e.transaction_id
          WHERE t.idempotency_key = $1 ORDER BY e.amount`,
        [`program_budget:${programId}:H100`],
      );
      expect(entries).toEqual([
        { kind: 'program_budget', account: `funding:${programId}:H100`, amount: '-3600000' },
        { kind: 'program_budget', account: `program:${programId}:H100`, amount: '3600000' },
      ]);
      const [totals] = await db.query<{ transactions: number; sum: string }[]>(
        `SELECT COUNT(DISTINCT t.id)::int AS transactions, SUM(e.amount)::text AS sum FROM ledger_entries e
           JOIN ledger_transactions t ON t.id = e.transaction_id WHERE e.account LIKE $1`,
        [`%:${programId}:%`],
      );
      expect(totals).toEqual({ transactions: 2, sum: '0' });
      const audit = await db.query(
        `SELECT action FROM audit_events WHERE subject_type = 'program' AND subject_id = $1`,
        [programId],
      );
      expect(audit).toEqual([{ action: 'program.created' }]);
    });

    it('reports every problem of an invalid program in one 400 and creates nothing', async () => {
      const response = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(
          validProgram({
            code: 'BROKEN-1',
            startsAt: '2026-03-01T00:00:00Z',
            endsAt: '2026-02-01T00:00:00Z',
            rubric: [{ key: 'merit', label: 'Merit', weight: 0, maxScore: 5 }],
            subsidyRates: { sme: 1.5, university: 0.12345 },
            budgets: [
              { gpuModel: 'H100', gpuHours: 10.5 },
              { gpuModel: 'H200', gpuHours: 1e20 },
              { gpuModel: 'A100', gpuHours: -5 },
            ],
            surprise: 'field',
          }),
        );
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      const fields = new Set(
        (response.body.error.details as { field: string }[]).map((detail) => detail.field),
      );
      expect([...fields].sort()).toEqual(
        [
          '(body)',
          'endsAt',
          'rubric[0].weight',
          'subsidyRates.sme',
          'subsidyRates.university',
          'budgets[0].gpuHours',
          'budgets[1].gpuHours',
          'budgets[2].gpuHours',
        ].sort(),
      );
      const [{ count }] = await db.query(
        `SELECT COUNT(*)::int AS count FROM programs WHERE code = 'BROKEN-1'`,
      );
      expect(count).toBe(0);
    });

    it('lets the domain list rule problems the schema cannot see, and refuses duplicate budget lines', async () => {
      const rules = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(
          validProgram({
            code: 'BROKEN-2',
            sectorTargets: { national: 50, industry: 30, academia: 30 },
            tracks: [
              { code: 'small', kind: 'gpu', minGpus: 4, maxGpus: 2 },
              { code: 'small', kind: 'server', minGpus: 8, maxGpus: 12, gpusPerServer: 8 },
            ],
          }),
        );
      expect(rules.status).toBe(400);
      expect(rules.body.error.code).toBe('INVALID_PROGRAM_RULES');
      expect(
        (rules.body.error.details.problems as { rule: string }[]).map((problem) => problem.rule).sort(),
      ).toEqual(
        [
          'DUPLICATE_TRACK_CODE',
          'SECTOR_TARGETS_NOT_100',
          'TRACK_MIN_ABOVE_MAX',
          'TRACK_NOT_WHOLE_SERVERS',
        ].sort(),
      );

      const duplicateLines = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(
          validProgram({
            code: 'BROKEN-3',
            budgets: [
              { gpuModel: 'H100', gpuHours: 1 },
              { gpuModel: 'H100', gpuHours: 2 },
            ],
          }),
        );
      expect(duplicateLines.status).toBe(400);
      expect(duplicateLines.body.error.details).toEqual([
        { field: 'budgets[1].gpuModel', message: 'H100 has two budget lines; give one line per GPU model' },
      ]);
    });

    it('answers 422 for an unknown agency, 409 for a taken code and 403 for non-admins', async () => {
      const unknownAgency = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(validProgram({ code: 'X-1', agencyCode: 'NOPE' }));
      expect(unknownAgency.status).toBe(422);
      expect(unknownAgency.body.error).toMatchObject({
        code: 'UNKNOWN_AGENCY',
        details: { agencyCode: 'NOPE' },
      });

      const taken = await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(validProgram());
      expect(taken.status).toBe(409);
      expect(taken.body.error.code).toBe('PROGRAM_CODE_TAKEN');

      const forbidden = await api.http
        .post('/v1/programs')
        .set(...auth(researcherToken))
        .send(validProgram({ code: 'X-2' }));
      expect(forbidden.status).toBe(403);
      const [{ count }] = await db.query(`SELECT COUNT(*)::int AS count FROM programs`);
      expect(count).toBe(1);
    });
  });

  describe('listing programs', () => {
    it('filters by agency and fiscal year and pages with a cursor', async () => {
      await api.http
        .post('/v1/programs')
        .set(...admin)
        .send(validProgram({ code: 'NIPA-2027', agencyCode: 'NIPA', fiscalYear: 2027 }))
        .expect(201);
      const everyone = auth(researcherToken);
      const byAgency = await api.http
        .get('/v1/programs?agencyCode=NIPA')
        .set(...everyone)
        .expect(200);
      expect(byAgency.body.items.map((program: { code: string }) => program.code)).toEqual(['NIPA-2027']);
      const byYear = await api.http
        .get('/v1/programs?fiscalYear=2026')
        .set(...everyone)
        .expect(200);
      expect(byYear.body.items.map((program: { code: string }) => program.code)).toEqual(['AI-GPU-2026-1']);

      const first = await api.http
        .get('/v1/programs?limit=1')
        .set(...everyone)
        .expect(200);
      expect(first.body.items).toHaveLength(1);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await api.http
        .get(`/v1/programs?limit=1&cursor=${first.body.nextCursor as string}`)
        .set(...everyone)
        .expect(200);
      expect(second.body.nextCursor).toBeNull();
      expect([first.body.items[0].code, second.body.items[0].code].sort()).toEqual([
        'AI-GPU-2026-1',
        'NIPA-2027',
      ]);

      const badYear = await api.http.get('/v1/programs?fiscalYear=soon').set(...everyone);
      expect(badYear.status).toBe(400);
      const badCursor = await api.http.get('/v1/programs?cursor=garbage').set(...everyone);
      expect(badCursor.status).toBe(400);
      expect(badCursor.body.error.code).toBe('INVALID_CURSOR');
      await api.http
        .get('/v1/programs/not-a-uuid')
        .set(...everyone)
        .expect(400);
      const missing = await api.http
        .get('/v1/programs/00000000-0000-4000-8000-000000000000')
        .set(...everyone);
      expect(missing.status).toBe(404);
    });
  });

  describe('reviewers', () => {
    it('assigns only users with the reviewer role, lists, scopes the reviewer view and removes', async () => {
      const plain = await makeUser(db);
      const refused = await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(...admin)
        .send({ userId: plain.id });
      expect(refused.status).toBe(422);
      expect(refused.body.error.code).toBe('NOT_A_REVIEWER');

      const reviewer = await makeUser(db, { roles: ['reviewer'] });
      const reviewerToken = await api.login(reviewer.email, reviewer.password);
      const assigned = await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(...admin)
        .send({ userId: reviewer.id });
      expect(assigned.status).toBe(201);
      expect(assigned.body).toMatchObject({
        userId: reviewer.id,
        email: reviewer.email,
        holdsReviewerRole: true,
      });
      const again = await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(...admin)
        .send({ userId: reviewer.id });
      expect(again.status).toBe(409);

      const list = await api.http
        .get(`/v1/programs/${programId}/reviewers`)
        .set(...admin)
        .expect(200);
      expect(list.body.items.map((item: { userId: string }) => item.userId)).toEqual([reviewer.id]);
      await api.http
        .get(`/v1/programs/${programId}/reviewers`)
        .set(...auth(reviewerToken))
        .expect(403);

      const mine = await api.http
        .get('/v1/programs?assignedToMe=true')
        .set(...auth(reviewerToken))
        .expect(200);
      expect(mine.body.items.map((program: { id: string }) => program.id)).toEqual([programId]);
      const reader = api.app.get(ProgramReader);
      expect(await reader.isReviewer(db.manager, programId, reviewer.id)).toBe(true);
      expect(await reader.isReviewer(db.manager, programId, plain.id)).toBe(false);

      await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(...admin)
        .send({ userId: 'nope' })
        .expect(400);
      const unknownUser = await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(...admin)
        .send({ userId: '00000000-0000-4000-8000-000000000000' });
      expect(unknownUser.status).toBe(404);
      await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(...auth(reviewerToken))
        .send({ userId: reviewer.id })
        .expect(403);

      await api.http
        .delete(`/v1/programs/${programId}/reviewers/${reviewer.id}`)
        .set(...admin)
        .expect(204);
      await api.http
        .delete(`/v1/programs/${programId}/reviewers/${reviewer.id}`)
        .set(...admin)
        .expect(404);
      const none = await api.http
        .get('/v1/programs?assignedToMe=true')
        .set(...auth(reviewerToken))
        .expect(200);
      expect(none.body.items).toEqual([]);

      const audit = await db.query(
        `SELECT action FROM audit_events WHERE subject_type = 'program' AND subject_id = $1 ORDER BY id`,
        [programId],
      );
      expect(audit.map((row: { action: string }) => row.action)).toEqual([
        'program.created',
        'program.reviewer_assigned',
        'program.reviewer_removed',
      ]);
    });
  });

  describe('allocations', () => {
    let memberToken: string;
    let outsiderToken: string;
    let projectId: string;
    let otherProjectId: string;
    let allocationId: string;

    beforeAll(async () => {
      const organizationId = await makeOrganization(db);
      const member = await makeUser(db, { organizationId });
      const outsider = await makeUser(db, { organizationId });
      projectId = await makeProject(db, { organizationId, piUserId: researcher.id, memberIds: [member.id] });
      otherProjectId = await makeProject(db, { organizationId, piUserId: outsider.id });
      memberToken = await api.login(member.email, member.password);
      outsiderToken = await api.login(outsider.email, outsider.password);
      // 10 GPU-hours granted; a workload held 2 h and used 1.5 h; another holds 1 h right now.
      ({ allocationId } = await makeGrantedAllocation(db, {
        projectId,
        programId,
        createdBy: researcher.id,
        gpuModel: 'H100',
        grantedGpuSeconds: 10n * HOUR,
        workloads: [{ heldGpuSeconds: 2n * HOUR, usedGpuSeconds: 5400n }, { heldGpuSeconds: HOUR }],
      }));
    });

    it('shows a member the allocation with exact balances from the ledger', async () => {
      const response = await api.http
        .get(`/v1/allocations/${allocationId}`)
        .set(...auth(memberToken))
        .expect(200);
      expect(response.body).toMatchObject({
        id: allocationId,
        projectId,
        programId,
        gpuModel: 'H100',
        kind: 'budget',
        maxConcurrentGpus: 8,
        status: 'active',
        granted: { gpuSeconds: '36000', gpuHours: '10' },
        held: { gpuSeconds: '3600', gpuHours: '1' },
        consumed: { gpuSeconds: '5400', gpuHours: '1.5' },
        remaining: { gpuSeconds: '27000', gpuHours: '7.5' },
        returned: { gpuSeconds: '0', gpuHours: '0' },
      });
      const list = await api.http
        .get(`/v1/allocations?projectId=${projectId}`)
        .set(...auth(memberToken))
        .expect(200);
      expect(list.body.items).toEqual([response.body]);
      expect(list.body.nextCursor).toBeNull();
      const byProgram = await api.http
        .get(`/v1/allocations?programId=${programId}`)
        .set(...admin)
        .expect(200);
      expect(byProgram.body.items.map((item: { id: string }) => item.id)).toEqual([allocationId]);
    });

    it('moves the grant out of the program budget', async () => {
      const program = await api.http
        .get(`/v1/programs/${programId}`)
        .set(...auth(memberToken))
        .expect(200);
      expect(program.body.budgets.find((line: { gpuModel: string }) => line.gpuModel === 'H100')).toEqual({
        gpuModel: 'H100',
        budget: { gpuSeconds: '3600000', gpuHours: '1000' },
        granted: { gpuSeconds: '36000', gpuHours: '10' },
        left: { gpuSeconds: '3564000', gpuHours: '990' },
        pending: { gpuSeconds: '0', gpuHours: '0' },
      });
      const reader = api.app.get(ProgramReader);
      expect(await reader.budgetLeft(db.manager, programId)).toEqual({
        B200: 360_000_000_000n,
        H100: 3_564_000n,
      });
      const rules = await reader.loadRules(db.manager, programId);
      expect(rules.budgetsGpuSeconds).toEqual({ B200: 360_000_000_000n, H100: 3_600_000n });
      expect(rules.subsidyRates).toEqual({ university: 10_000, sme: 7_000, youth_startup: 2_900 });
    });

    it('answers 404 to members of other projects, for the allocation and for the project filter', async () => {
      const other = auth(outsiderToken);
      const single = await api.http.get(`/v1/allocations/${allocationId}`).set(...other);
      expect(single.status).toBe(404);
      expect(single.body.error.code).toBe('NOT_FOUND');
      await api.http
        .get(`/v1/allocations?projectId=${projectId}`)
        .set(...other)
        .expect(404);
      const own = await api.http
        .get(`/v1/allocations?projectId=${otherProjectId}`)
        .set(...other)
        .expect(200);
      expect(own.body).toEqual({ items: [], nextCursor: null });
      const all = await api.http
        .get('/v1/allocations')
        .set(...other)
        .expect(200);
      expect(all.body.items).toEqual([]);
      // An id that does not exist reads exactly like one the caller may not see.
      const missing = await api.http
        .get('/v1/allocations/00000000-0000-4000-8000-000000000000')
        .set(...other);
      expect(missing.status).toBe(404);
      expect(Object.keys(missing.body.error).sort()).toEqual(Object.keys(single.body.error).sort());
    });

    it('rejects malformed ids and filters with 400', async () => {
      const malformed = await api.http.get('/v1/allocations/12345').set(...auth(memberToken));
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('VALIDATION_FAILED');
      await api.http
        .get('/v1/allocations?projectId=abc')
        .set(...auth(memberToken))
        .expect(400);
      await api.http
        .get('/v1/allocations?status=gone')
        .set(...auth(memberToken))
        .expect(400);
    });

    it("lets finance users of the program's agency read it, and nobody else's finance", async () => {
      const msitFinance = await makeUser(db, { roles: ['finance'], agencyCode: 'MSIT' });
      const nipaFinance = await makeUser(db, { roles: ['finance'], agencyCode: 'NIPA' });
      const msit = auth(await api.login(msitFinance.email, msitFinance.password));
      const nipa = auth(await api.login(nipaFinance.email, nipaFinance.password));
      await api.http
        .get(`/v1/allocations/${allocationId}`)
        .set(...msit)
        .expect(200);
      const listed = await api.http
        .get(`/v1/allocations?projectId=${projectId}`)
        .set(...msit)
        .expect(200);
      expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([allocationId]);
      await api.http
        .get(`/v1/allocations/${allocationId}`)
        .set(...nipa)
        .expect(404);
      const nipaList = await api.http
        .get(`/v1/allocations?projectId=${projectId}`)
        .set(...nipa)
        .expect(200);
      expect(nipaList.body.items).toEqual([]);
    });
  });

  it('publishes the routes in OpenAPI under their tags', async () => {
    const doc = await api.http.get('/docs-json').expect(200);
    expect(doc.body.paths['/v1/programs'].post.tags).toEqual(['programs']);
    expect(doc.body.paths['/v1/agencies'].get.tags).toEqual(['programs']);
    expect(doc.body.paths['/v1/programs/{id}/reviewers/{userId}'].delete.tags).toEqual(['programs']);
    expect(doc.body.paths['/v1/allocations/{id}'].get.tags).toEqual(['allocations']);
    expect(JSON.stringify(doc.body.paths['/v1/programs'].post)).toContain('gpuHours');
  });
});
