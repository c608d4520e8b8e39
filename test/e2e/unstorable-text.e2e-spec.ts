import type { OrganizationEntity, ProgramEntity, ProjectEntity, UserEntity } from '#persistence';
import { makeGrantedAllocation } from '../factories/program.factory.js';
import { RequestFixtures } from '../factories/request-fixtures.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

const DAY_MS = 86_400_000;

/**
 * Text PostgreSQL cannot store — U+0000, and a lone UTF-16 surrogate (JSON "\ud800") — is refused
 * with a 400 naming the field, in every text field, before anything is written (it was a 500, or,
 * for a surrogate, text silently stored as U+FFFD). In a usage batch only the bad record is refused.
 */
describe('text PostgreSQL cannot store (e2e)', () => {
  let api: ApiHarness;
  let fixtures: RequestFixtures;
  let program: ProgramEntity;
  let university: OrganizationEntity;
  let project: ProjectEntity;
  let alice: { user: UserEntity; token: string };
  let reviewer: { user: UserEntity; token: string };
  let usageToken: string;
  let allocationId: string;

  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  // JSON.stringify writes a lone surrogate as the escape "\ud800", as a client's JSON would carry it.
  const BAD: [string, string][] = [
    ['a NUL (U+0000)', '\u0000'],
    ['a lone surrogate ("\\ud800")', '\ud800'],
  ];
  const draftBody = (overrides: Record<string, unknown> = {}) => ({
    projectId: project.id,
    programId: program.id,
    lines: [{ gpuModel: 'H100', gpuHours: 10, maxConcurrentGpus: 4 }],
    startsAt: new Date(Date.now() + DAY_MS).toISOString(),
    endsAt: new Date(Date.now() + 30 * DAY_MS).toISOString(),
    justification: 'Training a model.',
    ...overrides,
  });
  async function submitted(): Promise<string> {
    const created = await api.http.post('/v1/allocation-requests').set(auth(alice.token)).send(draftBody());
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await api.http.post(`/v1/allocation-requests/${id}/submit`).set(auth(alice.token)).expect(200);
    return id;
  }
  interface ErrorAnswer {
    status: number;
    body: { error?: { code?: string; details?: unknown } };
  }
  function expectNamed(response: ErrorAnswer, field: string, problem: RegExp): void {
    expect({ status: response.status, code: response.body.error?.code }).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    expect(response.body.error?.details).toEqual([{ field, message: expect.stringMatching(problem) }]);
  }
  const problemOf = (bad: string) =>
    bad === '\u0000' ? /NUL character/ : /unpaired UTF-16 surrogate \(U\+D800\)/;

  beforeAll(async () => {
    api = await startApi('unstorable_text');
    fixtures = await RequestFixtures.connect(api.databaseUrl);
    program = await fixtures.makeProgram();
    university = await fixtures.makeOrganization({ type: 'university' });
    const institute = await fixtures.makeOrganization({ type: 'research_institute' });
    const aliceUser = await fixtures.makeUser({ organizationId: university.id });
    alice = { user: aliceUser, token: await api.login(aliceUser.email, 'password-123') };
    const reviewerUser = await fixtures.makeUser({ organizationId: institute.id, roles: ['reviewer'] });
    reviewer = { user: reviewerUser, token: await api.login(reviewerUser.email, 'password-123') };
    project = await fixtures.makeProject({ organizationId: university.id, piUserId: alice.user.id });
    await fixtures.assignReviewer(program.id, reviewer.user.id);
    const created = await api.http
      .post('/v1/api-tokens')
      .set(auth(api.adminToken))
      .send({ name: 'meter', scopes: ['usage:write'] })
      .expect(201);
    usageToken = created.body.token as string;
    // Its window (March–September 2026) is closed now: usage inside it is still recorded, as late.
    ({ allocationId } = await makeGrantedAllocation(fixtures.db, {
      projectId: project.id,
      programId: program.id,
      createdBy: alice.user.id,
      gpuModel: 'H100',
      grantedGpuSeconds: 3600n * 1000n,
    }));
  });

  afterAll(async () => {
    await fixtures?.close();
    await api?.close();
  });

  describe.each(BAD)('%s', (_name, bad) => {
    it('in a request justification: 400 naming it, no request stored', async () => {
      const before = await fixtures.count('allocation_requests');
      const response = await api.http
        .post('/v1/allocation-requests')
        .set(auth(alice.token))
        .send(draftBody({ justification: `Training${bad} a model.` }));
      expectNamed(response, 'justification', problemOf(bad));
      expect(await fixtures.count('allocation_requests')).toBe(before);
    });

    it('in a line of a request (nested in an array): named by its path', async () => {
      const response = await api.http
        .post('/v1/allocation-requests')
        .set(auth(alice.token))
        .send(
          draftBody({
            lines: [
              { gpuModel: 'H100', gpuHours: 10, maxConcurrentGpus: 4 },
              { gpuModel: `H${bad}`, gpuHours: 10, maxConcurrentGpus: 4 },
            ],
          }),
        );
      expectNamed(response, 'lines[1].gpuModel', problemOf(bad));
    });

    it('in a webhook url: 400 naming it, no subscription stored', async () => {
      const before = await fixtures.count('webhook_subscriptions');
      const response = await api.http
        .post('/v1/webhooks')
        .set(auth(api.adminToken))
        .send({ url: `https://hooks.example.test/${bad}x` });
      expectNamed(response, 'url', problemOf(bad));
      expect(await fixtures.count('webhook_subscriptions')).toBe(before);
    });

    it('in a review comment: 400 naming it, no review stored', async () => {
      const id = await submitted();
      const response = await api.http
        .post(`/v1/allocation-requests/${id}/reviews`)
        .set(auth(reviewer.token))
        .send({ scores: { impact: 5, feasibility: 5 }, comment: `Sound${bad} plan.` });
      expectNamed(response, 'comment', problemOf(bad));
      expect(await fixtures.count('reviews', 'request_id = $1', [id])).toBe(0);
    });

    it('in a reject reason: 400 naming it, the request stays submitted', async () => {
      const id = await submitted();
      const response = await api.http
        .post(`/v1/allocation-requests/${id}/reject`)
        .set(auth(api.adminToken))
        .send({ reason: `Out of${bad} scope.` });
      expectNamed(response, 'reason', problemOf(bad));
      expect(await fixtures.count('allocation_requests', "id = $1 AND status = 'submitted'", [id])).toBe(1);
    });

    it('in an agency name: 400 naming it, no agency stored', async () => {
      const before = await fixtures.count('agencies');
      const response = await api.http
        .post('/v1/agencies')
        .set(auth(api.adminToken))
        .send({ code: `NUL${bad === '\u0000' ? 'A' : 'B'}`, name: `Agency${bad}` });
      expectNamed(response, 'name', problemOf(bad));
      expect(await fixtures.count('agencies')).toBe(before);
    });

    it('in an object key: named by the key', async () => {
      const id = await submitted();
      const keyed = await api.http
        .post(`/v1/allocation-requests/${id}/reviews`)
        .set(auth(reviewer.token))
        .send({ scores: { [`imp${bad}act`]: 5 }, comment: 'Fine.' });
      expect(keyed.status).toBe(400);
      expect(keyed.body.error.details).toEqual([
        { field: `scores.${JSON.stringify(`imp${bad}act`)}`, message: expect.stringMatching(/key/) },
      ]);
      expect(await fixtures.count('reviews', 'request_id = $1', [id])).toBe(0);
    });

    it.each(['source', 'externalId', 'gpuModel'] as const)(
      'in one usage record’s %s: that record alone is rejected, the other two are stored',
      async (field) => {
        const tag = `${field}-${bad === '\u0000' ? 'nul' : 'surrogate'}`;
        const record = (n: number) => ({
          source: 'slurm:test',
          externalId: `${tag}-${n}`,
          allocationId,
          gpuModel: 'H100',
          gpus: 2,
          startedAt: `2026-08-31T0${n}:00:00Z`,
          endedAt: `2026-08-31T0${n}:30:00Z`,
        });
        const bad1 = { ...record(1), [field]: `${record(1)[field]}${bad}` };
        const response = await api.http
          .post('/v1/usage/records')
          .set(auth(usageToken))
          .send({ records: [record(0), bad1, record(2)] });
        expect(response.status).toBe(202);
        expect(response.body).toMatchObject({
          accepted: 2,
          duplicates: 0,
          rejected: [{ index: 1, code: 'INVALID_TEXT', message: expect.stringContaining(field) }],
          batchId: expect.any(String),
        });
        const stored = await fixtures.db.query<{ external_id: string }[]>(
          'SELECT external_id FROM usage_records WHERE external_id LIKE $1 ORDER BY external_id',
          [`${tag}-%`],
        );
        expect(stored.map((row) => row.external_id)).toEqual([`${tag}-0`, `${tag}-2`]);
      },
    );
  });

  // Percent-encoded UTF-8 cannot carry a lone surrogate (%ED%A0%80 does not decode), but %00 is NUL.
  it('a NUL in a query string is a 400 naming the parameter', async () => {
    const response = await api.http.get('/v1/allocation-requests?status=%00').set(auth(api.adminToken));
    expectNamed(response, 'status', /NUL character/);
  });

  it('a NUL in a path id is a 400 naming the id', async () => {
    const response = await api.http.get('/v1/allocation-requests/%00').set(auth(api.adminToken));
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].field).toBe('id');
  });
});
