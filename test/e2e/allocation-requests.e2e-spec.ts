import { randomUUID } from 'node:crypto';
import type { OrganizationEntity, ProgramEntity, ProjectEntity, UserEntity } from '#persistence';
import { RequestFixtures } from '../factories/request-fixtures.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

const DAY_MS = 86_400_000;
const HOUR = 3600n;

interface Actor {
  user: UserEntity;
  token: string;
}

describe('allocation requests (e2e)', () => {
  let api: ApiHarness;
  let fixtures: RequestFixtures;
  let program: ProgramEntity;
  let university: OrganizationEntity;
  let projectA: ProjectEntity;
  let projectB: ProjectEntity;
  let projectE: ProjectEntity;
  let alice: Actor; // member of project A (university)
  let bob: Actor; // member of project B only
  let eve: Actor; // member of project E (an enterprise)
  let reviewer1: Actor;
  let reviewer2: Actor;
  let sameOrgReviewer: Actor; // works at the university of project A
  let outsideReviewer: Actor; // a reviewer not assigned to the program

  const auth = (actor: Actor | string) => ({
    authorization: `Bearer ${typeof actor === 'string' ? actor : actor.token}`,
  });
  const window = () => ({
    startsAt: new Date(Date.now() + DAY_MS).toISOString(),
    endsAt: new Date(Date.now() + 90 * DAY_MS).toISOString(),
  });
  const draftBody = (projectId: string, overrides: Record<string, unknown> = {}) => ({
    projectId,
    programId: program.id,
    lines: [
      { gpuModel: 'H100', gpuHours: 1000, maxConcurrentGpus: 4 },
      { gpuModel: 'H200', gpuHours: 100, maxConcurrentGpus: 8, kind: 'budget' },
    ],
    ...window(),
    justification: 'Pre-training a Korean legal-domain language model.',
    ...overrides,
  });

  async function actor(organizationId: string, roles: string[] = []): Promise<Actor> {
    const user = await fixtures.makeUser({ organizationId, roles });
    return { user, token: await api.login(user.email, 'password-123') };
  }

  async function draft(
    by: Actor,
    projectId: string,
    overrides: Record<string, unknown> = {},
  ): Promise<string> {
    const response = await api.http
      .post('/v1/allocation-requests')
      .set(auth(by))
      .send(draftBody(projectId, overrides));
    expect(response.status).toBe(201);
    return response.body.id as string;
  }

  async function submitted(by: Actor, projectId: string): Promise<string> {
    const id = await draft(by, projectId);
    await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(by)).expect(200);
    return id;
  }

  const review = (by: Actor, id: string, impact: number, feasibility: number) =>
    api.http
      .post(`/v1/allocation-requests/${id}/reviews`)
      .set(auth(by))
      .send({ scores: { impact, feasibility }, comment: 'Sound plan.' });

  beforeAll(async () => {
    api = await startApi('requests');
    fixtures = await RequestFixtures.connect(api.databaseUrl);
    program = await fixtures.makeProgram();
    university = await fixtures.makeOrganization({ type: 'university' });
    const otherUniversity = await fixtures.makeOrganization({ type: 'university' });
    const enterprise = await fixtures.makeOrganization({ type: 'enterprise' });
    const institute = await fixtures.makeOrganization({ type: 'research_institute' });
    alice = await actor(university.id);
    bob = await actor(otherUniversity.id);
    eve = await actor(enterprise.id);
    reviewer1 = await actor(institute.id, ['reviewer']);
    reviewer2 = await actor(institute.id, ['reviewer']);
    sameOrgReviewer = await actor(university.id, ['reviewer']);
    outsideReviewer = await actor(institute.id, ['reviewer']);
    projectA = await fixtures.makeProject({ organizationId: university.id, piUserId: alice.user.id });
    projectB = await fixtures.makeProject({ organizationId: otherUniversity.id, piUserId: bob.user.id });
    projectE = await fixtures.makeProject({ organizationId: enterprise.id, piUserId: eve.user.id });
    for (const reviewer of [reviewer1, reviewer2, sameOrgReviewer])
      await fixtures.assignReviewer(program.id, reviewer.user.id);
  });

  afterAll(async () => {
    await fixtures?.close();
    await api?.close();
  });

  it('drafts, edits and submits a request, with amounts in exact GPU-seconds', async () => {
    const created = await api.http
      .post('/v1/allocation-requests')
      .set(auth(alice))
      .send(draftBody(projectA.id));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      status: 'draft',
      projectId: projectA.id,
      lines: [
        {
          gpuModel: 'H100',
          kind: 'budget',
          requested: { gpuSeconds: (1000n * HOUR).toString(), gpuHours: '1000' },
          granted: null,
        },
        { gpuModel: 'H200', requested: { gpuSeconds: '360000', gpuHours: '100' }, maxConcurrentGpus: 8 },
      ],
    });
    const id = created.body.id as string;

    const edited = await api.http
      .patch(`/v1/allocation-requests/${id}`)
      .set(auth(alice))
      .send({ justification: 'Pre-training and evaluation.' });
    expect(edited.status).toBe(200);
    expect(edited.body.justification).toBe('Pre-training and evaluation.');

    // Reviewers do not see drafts.
    await api.http.get(`/v1/allocation-requests/${id}`).set(auth(reviewer1)).expect(404);

    const submit = await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(alice));
    expect(submit.status).toBe(200);
    expect(submit.body.status).toBe('submitted');
    expect(submit.body.submittedAt).toEqual(expect.any(String));

    const editAfter = await api.http
      .patch(`/v1/allocation-requests/${id}`)
      .set(auth(alice))
      .send({ justification: 'x' });
    expect(editAfter.status).toBe(409);
    const submitAgain = await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(alice));
    expect(submitAgain.status).toBe(409);
    expect(submitAgain.body.error.code).toBe('ILLEGAL_TRANSITION');
  });

  it('refuses an ineligible request with 422 listing every failed rule, and keeps it a draft', async () => {
    const id = await draft(eve, projectE.id, {
      lines: [
        { gpuModel: 'B200', gpuHours: 10, maxConcurrentGpus: 2 },
        { gpuModel: 'H100', gpuHours: 20_000, maxConcurrentGpus: 6 },
      ],
      startsAt: new Date(Date.now() + DAY_MS).toISOString(),
      endsAt: new Date(Date.now() + 800 * DAY_MS).toISOString(),
    });
    const response = await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(eve));
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('ELIGIBILITY_FAILED');
    const rules = (response.body.error.details as { rule: string }[]).map((detail) => detail.rule);
    expect(rules).toEqual(
      expect.arrayContaining([
        'ORGANIZATION_TYPE_NOT_ELIGIBLE',
        'REQUEST_WINDOW_OUTSIDE_PROGRAM',
        'GPU_MODEL_NOT_IN_PROGRAM',
        'NO_TRACK_FITS',
        'EXCEEDS_PROGRAM_BUDGET',
      ]),
    );
    const after = await api.http.get(`/v1/allocation-requests/${id}`).set(auth(eve)).expect(200);
    expect(after.body.status).toBe('draft');
    expect(after.body.history.map((event: { action: string }) => event.action)).toEqual(['request.created']);
  });

  it('takes reviews from assigned reviewers, refuses conflicts of interest, and ranks by score', async () => {
    const strong = await submitted(alice, projectA.id);
    const weak = await submitted(alice, projectA.id);

    const conflicted = await review(sameOrgReviewer, strong, 10, 5);
    expect(conflicted.status).toBe(403);
    expect(conflicted.body.error.code).toBe('CONFLICT_OF_INTEREST');

    const unassigned = await review(outsideReviewer, strong, 10, 5);
    expect(unassigned.status).toBe(404);

    const first = await review(reviewer1, strong, 9, 5);
    expect(first.status).toBe(201);
    // (3·90 + 2·100) / 5 = 94
    expect(first.body.weightedScore).toEqual({ milli: 94_000, display: '94.00' });
    const second = await review(reviewer2, strong, 7, 4);
    expect(second.status).toBe(201);
    const again = await review(reviewer1, strong, 1, 1);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('REVIEW_EXISTS');
    const badScores = await review(reviewer1, weak, 11, 1);
    expect(badScores.status).toBe(400);
    expect(badScores.body.error.code).toBe('INVALID_SCORES');
    // Out of range, however far: the message gives the criterion's range, not "a whole number" (issue 13 item 9).
    for (const [impact, shown] of [
      [-3, '-3'],
      [1e30, '1e+30'],
    ] as const) {
      const outOfRange = await review(reviewer1, weak, impact, 1);
      expect(outOfRange.status).toBe(400);
      expect(outOfRange.body.error.code).toBe('INVALID_SCORES');
      expect(outOfRange.body.error.message).toContain(`must be from 0 to 10, got ${shown}`);
      expect(outOfRange.body.error.message).not.toContain('whole number');
    }
    const fraction = await review(reviewer1, weak, 2.5, 1);
    expect(fraction.status).toBe(400);
    expect(fraction.body.error.message).toContain('must be a whole number from 0 to 10, got 2.5');

    const declared = await api.http
      .post(`/v1/allocation-requests/${weak}/conflicts`)
      .set(auth(reviewer2))
      .send({ reason: 'Co-author of the PI.' });
    expect(declared.status).toBe(201);
    const afterDeclaring = await review(reviewer2, weak, 5, 5);
    expect(afterDeclaring.status).toBe(403);
    expect(afterDeclaring.body.error.code).toBe('CONFLICT_OF_INTEREST');
    expect((await review(reviewer1, weak, 3, 2)).status).toBe(201);

    const strongView = await api.http
      .get(`/v1/allocation-requests/${strong}`)
      .set(auth(reviewer1))
      .expect(200);
    expect(strongView.body.status).toBe('under_review');
    expect(strongView.body.reviews).toHaveLength(2);

    const ranked = await api.http
      .get('/v1/allocation-requests')
      .query({ programId: program.id, sort: 'score' })
      .set(auth(api.adminToken))
      .expect(200);
    const order = (ranked.body.items as { id: string; rank: number }[]).map((item) => item.id);
    expect(order.indexOf(strong)).toBeLessThan(order.indexOf(weak));
    expect(ranked.body.items[0]).toMatchObject({ id: strong, rank: 1, score: { reviews: 2 } });

    // Reviewers list the program's submitted requests but never drafts.
    const reviewerList = await api.http.get('/v1/allocation-requests').set(auth(reviewer1)).expect(200);
    expect((reviewerList.body.items as { status: string }[]).every((item) => item.status !== 'draft')).toBe(
      true,
    );
  });

  it('lists in allowedActions only what the caller may do (issue 13 item 9)', async () => {
    const id = await submitted(alice, projectA.id);
    const actionsOf = async (who: Actor | string) => {
      const response = await api.http.get(`/v1/allocation-requests/${id}`).set(auth(who));
      expect(response.status).toBe(200);
      return response.body.allowedActions as string[];
    };
    // The PI may withdraw, not decide; the reviewer may review; the admin decides (or withdraws).
    expect(await actionsOf(alice)).toEqual(['withdraw']);
    expect(await actionsOf(reviewer1)).toEqual(['start_review']);
    expect(await actionsOf(api.adminToken)).toEqual(['approve', 'partially_approve', 'reject', 'withdraw']);
    const listed = await api.http
      .get('/v1/allocation-requests')
      .query({ programId: program.id })
      .set(auth(alice));
    const item = (listed.body.items as { id: string; allowedActions: string[] }[]).find(
      (row) => row.id === id,
    );
    expect(item?.allowedActions).toEqual(['withdraw']);
    // What allowedActions leaves out is what the routes refuse.
    const byPi = await api.http.post(`/v1/allocation-requests/${id}/approve`).set(auth(alice)).send({});
    expect(byPi.status).toBe(403);
    expect(byPi.body.error).toMatchObject({ code: 'ROLE_REQUIRED', details: { requiredRoles: ['admin'] } });
    const rejectByPi = await api.http
      .post(`/v1/allocation-requests/${id}/reject`)
      .set(auth(alice))
      .send({ reason: 'no' });
    expect(rejectByPi.status).toBe(403);
    const withdrawByReviewer = await api.http
      .post(`/v1/allocation-requests/${id}/withdraw`)
      .set(auth(reviewer1));
    expect(withdrawByReviewer.status).toBe(403);
    expect((await review(reviewer1, id, 8, 4)).status).toBe(201);
    expect(await actionsOf(reviewer1)).toEqual([]);
    expect(await actionsOf(alice)).toEqual(['withdraw']);
  });

  it('approves partially in one transaction with a pending grant intent; a second approval is 409', async () => {
    const id = await submitted(alice, projectA.id);
    expect((await review(reviewer1, id, 8, 4)).status).toBe(201);
    const approve = () =>
      api.http
        .post(`/v1/allocation-requests/${id}/approve`)
        .set(auth(api.adminToken))
        .send({
          lines: [{ gpuModel: 'H100', gpuHours: 600, maxConcurrentGpus: 4 }],
          note: 'H200 is oversubscribed.',
        });

    const approved = await approve();
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('partially_approved');
    expect(approved.body.lines).toEqual([
      expect.objectContaining({
        gpuModel: 'H100',
        requested: { gpuSeconds: (1000n * HOUR).toString(), gpuHours: '1000' },
        granted: { gpuSeconds: (600n * HOUR).toString(), gpuHours: '600' },
        grantedMaxConcurrentGpus: 4,
      }),
      expect.objectContaining({
        gpuModel: 'H200',
        granted: { gpuSeconds: '0', gpuHours: '0' },
        grantedMaxConcurrentGpus: 0,
      }),
    ]);
    expect(approved.body.decisionNote).toBe('H200 is oversubscribed.');
    expect(await fixtures.count('grant_intents', 'request_id = $1 AND status = $2', [id, 'pending'])).toBe(1);

    const twice = await approve();
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('ILLEGAL_TRANSITION');
    expect(await fixtures.count('grant_intents', 'request_id = $1', [id])).toBe(1);

    const withdraw = await api.http.post(`/v1/allocation-requests/${id}/withdraw`).set(auth(alice));
    expect(withdraw.status).toBe(409);
    expect(withdraw.body.error.code).toBe('ILLEGAL_TRANSITION');

    const memberApproves = await api.http
      .post(`/v1/allocation-requests/${id}/approve`)
      .set(auth(alice))
      .send({});
    expect(memberApproves.status).toBe(403);

    const detail = await api.http.get(`/v1/allocation-requests/${id}`).set(auth(alice)).expect(200);
    expect(detail.body.history.map((event: { action: string }) => event.action)).toEqual([
      'request.created',
      'request.submitted',
      'request.review_added',
      'request.partially_approved',
    ]);
    expect(detail.body.history[3]).toMatchObject({
      actor: { kind: 'user' },
      before: { status: 'under_review' },
      after: { status: 'partially_approved' },
      requestId: expect.any(String),
    });
    // (3·80 + 2·80) / 5 = 80
    expect(detail.body.grant).toMatchObject({ status: 'pending' });
    // Applicants read decided reviews without the reviewer's identity.
    expect(detail.body.reviews).toEqual([
      expect.objectContaining({ reviewerId: null, weightedScore: { milli: 80_000, display: '80.00' } }),
    ]);
  });

  it('lets exactly one of two concurrent approvals win', async () => {
    const id = await submitted(alice, projectA.id);
    const approve = () =>
      api.http.post(`/v1/allocation-requests/${id}/approve`).set(auth(api.adminToken)).send({});
    const results = await Promise.all([approve(), approve()]);
    expect(results.map((result) => result.status).sort()).toEqual([200, 409]);
    expect(results.find((result) => result.status === 200)?.body.status).toBe('approved');
    expect(await fixtures.count('grant_intents', 'request_id = $1', [id])).toBe(1);
    expect(
      await fixtures.count('audit_events', "subject_id = $1 AND action = 'request.approved'", [id]),
    ).toBe(1);
  });

  it('counts a grant still pending (its job not run yet) once against the program budget', async () => {
    // 1,500 H100 hours: a first approval of 600 is pending (no scheduler runs here), so 900 are left
    // and a second approval of 600 fits; counted twice, 300 would be left and it would be refused.
    const small = await fixtures.makeProgram({ budgetsGpuHours: { H100: 1_500n } });
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      ids.push(
        await draft(alice, projectA.id, {
          programId: small.id,
          lines: [{ gpuModel: 'H100', gpuHours: 600, maxConcurrentGpus: 4 }],
        }),
      );
    }
    for (const id of ids)
      await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(alice)).expect(200);
    for (const id of ids.slice(0, 2)) {
      await api.http
        .post(`/v1/allocation-requests/${id}/approve`)
        .set(auth(api.adminToken))
        .send({})
        .expect(200);
    }
    expect(
      await fixtures.count('grant_intents', "request_id = ANY($1::uuid[]) AND status = 'pending'", [ids]),
    ).toBe(2);
    // 300 hours are left: the third is over the budget.
    const over = await api.http
      .post(`/v1/allocation-requests/${ids[2]}/approve`)
      .set(auth(api.adminToken))
      .send({});
    expect(over.status).toBe(422);
    expect(over.body.error.code).toBe('EXCEEDS_PROGRAM_BUDGET');
  });

  it('refuses a grant beyond what the program has left with 422 and changes nothing', async () => {
    const small = await fixtures.makeProgram({ budgetsGpuHours: { H100: 1_500n } });
    const first = await draft(alice, projectA.id, {
      programId: small.id,
      lines: [{ gpuModel: 'H100', gpuHours: 1000, maxConcurrentGpus: 4 }],
    });
    const second = await draft(alice, projectA.id, {
      programId: small.id,
      lines: [{ gpuModel: 'H100', gpuHours: 1000, maxConcurrentGpus: 4 }],
    });
    for (const id of [first, second])
      await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(alice)).expect(200);
    await api.http
      .post(`/v1/allocation-requests/${first}/approve`)
      .set(auth(api.adminToken))
      .send({})
      .expect(200);
    const over = await api.http
      .post(`/v1/allocation-requests/${second}/approve`)
      .set(auth(api.adminToken))
      .send({});
    expect(over.status).toBe(422);
    expect(over.body.error.code).toBe('EXCEEDS_PROGRAM_BUDGET');
    const still = await api.http
      .get(`/v1/allocation-requests/${second}`)
      .set(auth(api.adminToken))
      .expect(200);
    expect(still.body.status).toBe('submitted');
    expect(still.body.lines[0].granted).toBeNull();
    expect(await fixtures.count('grant_intents', 'request_id = $1', [second])).toBe(0);
  });

  it('withdraws before a decision and rejects with a reason', async () => {
    const toWithdraw = await submitted(alice, projectA.id);
    const withdrawn = await api.http.post(`/v1/allocation-requests/${toWithdraw}/withdraw`).set(auth(alice));
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.status).toBe('withdrawn');

    const toReject = await submitted(alice, projectA.id);
    const rejected = await api.http
      .post(`/v1/allocation-requests/${toReject}/reject`)
      .set(auth(api.adminToken))
      .send({ reason: 'Out of scope for this call.' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'rejected', decisionNote: 'Out of scope for this call.' });
  });

  it("answers 404 for another project's request and leaves it out of lists", async () => {
    const id = await draft(alice, projectA.id);
    for (const call of [
      api.http.get(`/v1/allocation-requests/${id}`),
      api.http.patch(`/v1/allocation-requests/${id}`).send({ justification: 'mine now' }),
      api.http.post(`/v1/allocation-requests/${id}/submit`),
      api.http.post(`/v1/allocation-requests/${id}/withdraw`),
    ]) {
      const response = await call.set(auth(bob));
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    }
    const create = await api.http.post('/v1/allocation-requests').set(auth(bob)).send(draftBody(projectA.id));
    expect(create.status).toBe(404);
    const list = await api.http.get('/v1/allocation-requests').set(auth(bob)).expect(200);
    expect(list.body.items).toEqual([]);
    await api.http.get(`/v1/allocation-requests/${randomUUID()}`).set(auth(api.adminToken)).expect(404);
    const filtered = await api.http
      .get('/v1/allocation-requests')
      .query({ projectId: projectB.id })
      .set(auth(alice))
      .expect(200);
    expect(filtered.body.items).toEqual([]);
  });

  it('pages through lists with a cursor', async () => {
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string | number> = {
        limit: 2,
        projectId: projectA.id,
        ...(cursor ? { cursor } : {}),
      };
      const page = await api.http.get('/v1/allocation-requests').query(query).set(auth(alice)).expect(200);
      all.push(...(page.body.items as { id: string }[]).map((item) => item.id));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    const everything = await api.http
      .get('/v1/allocation-requests')
      .query({ projectId: projectA.id, limit: 200 })
      .set(auth(alice))
      .expect(200);
    expect(all).toEqual((everything.body.items as { id: string }[]).map((item) => item.id));
    expect(new Set(all).size).toBe(all.length);
  });

  it('publishes the routes and their schemas in OpenAPI', async () => {
    const doc = await api.http.get('/docs-json').expect(200);
    const paths = doc.body.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/v1/allocation-requests'] ?? {})).toEqual(
      expect.arrayContaining(['get', 'post']),
    );
    for (const action of ['submit', 'withdraw', 'reviews', 'conflicts', 'approve', 'reject']) {
      expect(paths[`/v1/allocation-requests/{id}/${action}`]?.post).toBeDefined();
    }
    expect(JSON.stringify(paths['/v1/allocation-requests']?.post)).toContain('gpuHours');
  });

  describe('bad input', () => {
    const line = { gpuModel: 'H100', gpuHours: 10, maxConcurrentGpus: 1 };
    const cases: [string, (projectId: string) => unknown][] = [
      ['an unknown field', (projectId) => ({ ...draftBody(projectId), priority: 'high' })],
      [
        'an unknown field in a line',
        (projectId) => draftBody(projectId, { lines: [{ ...line, color: 'red' }] }),
      ],
      ['fractional GPU-hours', (projectId) => draftBody(projectId, { lines: [{ ...line, gpuHours: 1.5 }] })],
      ['negative GPU-hours', (projectId) => draftBody(projectId, { lines: [{ ...line, gpuHours: -5 }] })],
      ['zero GPU-hours', (projectId) => draftBody(projectId, { lines: [{ ...line, gpuHours: 0 }] })],
      ['huge GPU-hours', (projectId) => draftBody(projectId, { lines: [{ ...line, gpuHours: 1e20 }] })],
      [
        'GPU-hours as a string',
        (projectId) => draftBody(projectId, { lines: [{ ...line, gpuHours: '10' }] }),
      ],
      ['no lines', (projectId) => draftBody(projectId, { lines: [] })],
      [
        '21 lines',
        (projectId) =>
          draftBody(projectId, {
            lines: Array.from({ length: 21 }, (_, i) => ({ ...line, gpuModel: `M${i}` })),
          }),
      ],
      ['a GPU model twice', (projectId) => draftBody(projectId, { lines: [line, line] })],
      ['a reserved line', (projectId) => draftBody(projectId, { lines: [{ ...line, kind: 'reserved' }] })],
      [
        'an oversized justification',
        (projectId) => draftBody(projectId, { justification: 'x'.repeat(10_001) }),
      ],
      ['a malformed project id', () => draftBody('not-a-uuid')],
      ['a malformed date', (projectId) => draftBody(projectId, { startsAt: 'tomorrow' })],
      [
        'a window that ends before it starts',
        (projectId) =>
          draftBody(projectId, {
            startsAt: new Date(Date.now() + 10 * DAY_MS).toISOString(),
            endsAt: new Date(Date.now() + DAY_MS).toISOString(),
          }),
      ],
      ['an array body', () => []],
    ];

    async function writes(): Promise<number[]> {
      return Promise.all(
        ['allocation_requests', 'allocation_request_lines', 'audit_events'].map((table) =>
          fixtures.count(table),
        ),
      );
    }

    it.each(cases)('rejects %s with 400 and writes nothing', async (_name, body) => {
      const before = await writes();
      const response = await api.http
        .post('/v1/allocation-requests')
        .set(auth(alice))
        .send(body(projectA.id) as object);
      expect(response.status).toBe(400);
      expect(response.body.error).toEqual(
        expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
      );
      expect(await writes()).toEqual(before);
    });

    it('rejects malformed JSON, malformed ids and bad queries with 400', async () => {
      const before = await writes();
      const badJson = await api.http
        .post('/v1/allocation-requests')
        .set(auth(alice))
        .set('content-type', 'application/json')
        .send('{"projectId": ');
      expect(badJson.status).toBe(400);
      expect(badJson.body.error.code).toBe('INVALID_JSON');
      for (const call of [
        api.http.get('/v1/allocation-requests/123'),
        api.http.post("/v1/allocation-requests/1'%20OR%201=1/submit"),
        api.http.post('/v1/allocation-requests/not-a-uuid/approve').send({}),
        api.http.get('/v1/allocation-requests').query({ status: 'granted' }),
        api.http.get('/v1/allocation-requests').query({ limit: 0 }),
        api.http.get('/v1/allocation-requests').query({ cursor: 'garbage' }),
        api.http.get('/v1/allocation-requests').query({ sort: 'score', cursor: 'garbage' }),
      ]) {
        const response = await call.set(auth(api.adminToken));
        expect(response.status).toBe(400);
        expect(response.body.error.code).toEqual(expect.any(String));
      }
      const id = await draft(alice, projectA.id);
      const afterDraft = await writes();
      for (const body of [
        {},
        { unknown: 1 },
        { justification: 'y'.repeat(10_001) },
        { lines: [{ ...line, gpuHours: 2.5 }] },
      ]) {
        const response = await api.http.patch(`/v1/allocation-requests/${id}`).set(auth(alice)).send(body);
        expect(response.status).toBe(400);
      }
      const submitted = await api.http
        .post(`/v1/allocation-requests/${id}/submit`)
        .set(auth(alice))
        .expect(200);
      expect(submitted.body.status).toBe('submitted');
      for (const body of [
        { lines: [{ gpuModel: 'H100', gpuHours: -1, maxConcurrentGpus: 1 }] },
        { lines: [{ gpuModel: 'H100', gpuHours: 1, maxConcurrentGpus: 1, kind: 'budget' }] },
        { note: 'x'.repeat(2001) },
        { reason: 'wrong route' },
      ]) {
        const response = await api.http
          .post(`/v1/allocation-requests/${id}/approve`)
          .set(auth(api.adminToken))
          .send(body);
        expect(response.status).toBe(400);
      }
      const grantTooLarge = await api.http
        .post(`/v1/allocation-requests/${id}/approve`)
        .set(auth(api.adminToken))
        .send({ lines: [{ gpuModel: 'H100', gpuHours: 5000, maxConcurrentGpus: 4 }] });
      expect(grantTooLarge.status).toBe(422);
      expect(grantTooLarge.body.error.code).toBe('GRANT_EXCEEDS_REQUEST');
      expect(await fixtures.count('grant_intents', 'request_id = $1', [id])).toBe(0);
      expect(before.length).toBe(3);
      const [requests, lines] = await writes();
      expect([requests, lines]).toEqual([afterDraft[0], afterDraft[1]]);
    });
  });
});
