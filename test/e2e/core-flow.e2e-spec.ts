import { SchedulerProcess } from '../../apps/scheduler/src/scheduler.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';
import { waitFor } from '../support/processes.js';

/**
 * The whole story over HTTP on real PostgreSQL and the configured queue backend (Redis, and once
 * more on BullMQ's PostgreSQL backend in `npm test`): from an empty service to a granted quota.
 */
describe('core flow: from a researcher request to a granted, ledgered quota', () => {
  let api: ApiHarness;
  let scheduler: SchedulerProcess;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    api = await startApi('core_flow', { RECONCILE_INTERVAL_MS: '1000', RECONCILE_GRACE_MS: '500' });
    scheduler = new SchedulerProcess(api.config);
    await scheduler.start();
  });
  afterAll(async () => {
    await scheduler.stop();
    await api.close();
  });

  it('tells the story end to end', async () => {
    const admin = auth(api.adminToken);

    // The admin sets up the agency, the call, organizations, users and a project.
    await api.http
      .post('/v1/agencies')
      .set(admin)
      .send({ code: 'NIPA', name: '정보통신산업진흥원' })
      .expect(201);
    const program = await api.http
      .post('/v1/programs')
      .set(admin)
      .send({
        code: 'AI-COMPUTE-2026',
        name: '2026 AI Compute Support',
        agencyCode: 'NIPA',
        fiscalYear: 2026,
        startsAt: '2026-01-01T00:00:00Z',
        endsAt: '2027-12-31T00:00:00Z',
        budgets: [
          { gpuModel: 'H200', gpuHours: 100000 },
          { gpuModel: 'B200', gpuHours: 50000 },
        ],
        subsidyRates: { university: 1, research_institute: 1, startup: 0.7 },
        eligibleOrganizationTypes: ['university', 'research_institute', 'startup'],
        tracks: [
          { code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 4 },
          { code: 'server', kind: 'server', minGpus: 8, maxGpus: 64, gpusPerServer: 8 },
        ],
        rubric: [
          { key: 'merit', label: 'Technical merit', weight: 4, maxScore: 10 },
          { key: 'impact', label: 'National impact', weight: 3, maxScore: 10 },
          { key: 'feasibility', label: 'Feasibility', weight: 3, maxScore: 10 },
        ],
      })
      .expect(201);
    const programId = program.body.id as string;

    const org = async (body: object) =>
      (await api.http.post('/v1/organizations').set(admin).send(body).expect(201)).body.id as string;
    const kaist = await org({
      name: 'KAIST',
      type: 'university',
      region: 'daejeon',
      businessRegistrationNumber: '314-82-00128',
    });
    const etri = await org({
      name: 'ETRI',
      type: 'research_institute',
      region: 'daejeon',
      businessRegistrationNumber: '305-82-00560',
    });
    const hangang = await org({
      name: 'Hangang AI',
      type: 'startup',
      region: 'seoul',
      businessRegistrationNumber: '211-81-00123',
    });
    const bigco = await org({ name: 'Big Enterprise', type: 'enterprise', region: 'seoul' });
    // An invalid business registration number is a 400 that names the field.
    const badOrg = await api.http.post('/v1/organizations').set(admin).send({
      name: 'Typo Inc',
      type: 'startup',
      region: 'seoul',
      businessRegistrationNumber: '211-81-00124',
    });
    expect(badOrg.status).toBe(400);
    expect(JSON.stringify(badOrg.body.error)).toContain('businessRegistrationNumber');

    const user = async (body: object) =>
      (
        await api.http
          .post('/v1/users')
          .set(admin)
          .send({ password: 'demo-password', ...body })
          .expect(201)
      ).body.id as string;
    const piId = await user({ email: 'pi@kaist.test', name: 'Kim PI', organizationId: kaist, roles: [] });
    const memberId = await user({
      email: 'member@kaist.test',
      name: 'Lee Member',
      organizationId: kaist,
      roles: [],
    });
    const reviewerEtri = await user({
      email: 'reviewer@etri.test',
      name: 'Park Reviewer',
      organizationId: etri,
      roles: ['reviewer'],
    });
    const reviewerKaist = await user({
      email: 'reviewer@kaist.test',
      name: 'Choi Reviewer',
      organizationId: kaist,
      roles: ['reviewer'],
    });
    const reviewerHangang = await user({
      email: 'reviewer@hangang.test',
      name: 'Jung Reviewer',
      organizationId: hangang,
      roles: ['reviewer'],
    });
    const outsiderId = await user({
      email: 'founder@bigco.test',
      name: 'Outsider',
      organizationId: bigco,
      roles: [],
    });
    for (const reviewer of [reviewerEtri, reviewerKaist, reviewerHangang]) {
      await api.http
        .post(`/v1/programs/${programId}/reviewers`)
        .set(admin)
        .send({ userId: reviewer })
        .expect(201);
    }
    const project = await api.http
      .post('/v1/projects')
      .set(admin)
      .send({
        title: 'Korean LLM pre-training',
        organizationId: kaist,
        piUserId: piId,
        memberIds: [memberId],
      })
      .expect(201);
    const projectId = project.body.id as string;
    const otherProject = await api.http
      .post('/v1/projects')
      .set(admin)
      .send({ title: 'Enterprise vision', organizationId: bigco, piUserId: outsiderId })
      .expect(201);

    const pi = auth(await api.login('pi@kaist.test', 'demo-password'));
    const outsider = auth(await api.login('founder@bigco.test', 'demo-password'));

    // An ineligible request: every failed rule comes back at once.
    const ineligible = await api.http
      .post('/v1/allocation-requests')
      .set(outsider)
      .send({
        projectId: otherProject.body.id,
        programId,
        lines: [
          { gpuModel: 'A100', gpuHours: 10, maxConcurrentGpus: 2 },
          { gpuModel: 'H200', gpuHours: 200000, maxConcurrentGpus: 6 },
        ],
        startsAt: '2028-01-01T00:00:00Z',
        endsAt: '2028-06-01T00:00:00Z',
        justification: 'Everything wrong at once',
      })
      .expect(201);
    const refused = await api.http.post(`/v1/allocation-requests/${ineligible.body.id}/submit`).set(outsider);
    expect(refused.status).toBe(422);
    const rules = (refused.body.error.details as { rule: string }[]).map((detail) => detail.rule).sort();
    expect(rules).toEqual(
      expect.arrayContaining([
        'ORGANIZATION_TYPE_NOT_ELIGIBLE',
        'GPU_MODEL_NOT_IN_PROGRAM',
        'NO_TRACK_FITS',
        'EXCEEDS_PROGRAM_BUDGET',
        'REQUEST_WINDOW_OUTSIDE_PROGRAM',
      ]),
    );

    // The researcher drafts and submits an eligible request.
    const draft = await api.http
      .post('/v1/allocation-requests')
      .set(pi)
      .send({
        projectId,
        programId,
        lines: [
          { gpuModel: 'H200', gpuHours: 2000, maxConcurrentGpus: 4 },
          { gpuModel: 'B200', gpuHours: 800, maxConcurrentGpus: 16 },
        ],
        startsAt: '2027-01-01T00:00:00Z',
        endsAt: '2027-06-30T00:00:00Z',
        justification: 'Pre-training a 7B Korean language model',
      })
      .expect(201);
    const requestId = draft.body.id as string;
    expect(draft.body.status).toBe('draft');
    const submitted = await api.http.post(`/v1/allocation-requests/${requestId}/submit`).set(pi).expect(200);
    expect(submitted.body.status).toBe('submitted');

    // Two reviewers score; a third, from the applicant's own organization, is refused.
    const review = { scores: { merit: 9, impact: 8, feasibility: 7 }, comment: 'Strong plan' };
    const etriReviewer = auth(await api.login('reviewer@etri.test', 'demo-password'));
    const hangangReviewer = auth(await api.login('reviewer@hangang.test', 'demo-password'));
    const kaistReviewer = auth(await api.login('reviewer@kaist.test', 'demo-password'));
    await api.http
      .post(`/v1/allocation-requests/${requestId}/reviews`)
      .set(etriReviewer)
      .send(review)
      .expect(201);
    await api.http
      .post(`/v1/allocation-requests/${requestId}/reviews`)
      .set(hangangReviewer)
      .send({ scores: { merit: 7, impact: 7, feasibility: 8 }, comment: 'Good' })
      .expect(201);
    const conflicted = await api.http
      .post(`/v1/allocation-requests/${requestId}/reviews`)
      .set(kaistReviewer)
      .send(review);
    expect(conflicted.status).toBe(403);
    expect(conflicted.body.error.code).toBe('CONFLICT_OF_INTEREST');

    // Only admins decide.
    const notAdmin = await api.http
      .post(`/v1/allocation-requests/${requestId}/approve`)
      .set(etriReviewer)
      .send({});
    expect(notAdmin.status).toBe(403);

    // The admin approves partially: less H200, the B200 line in full.
    const approved = await api.http
      .post(`/v1/allocation-requests/${requestId}/approve`)
      .set(admin)
      .send({
        lines: [
          { gpuModel: 'H200', gpuHours: 1500, maxConcurrentGpus: 4 },
          { gpuModel: 'B200', gpuHours: 800, maxConcurrentGpus: 16 },
        ],
        note: 'Budget is tight this round',
      })
      .expect(200);
    expect(approved.body.status).toBe('partially_approved');
    // The same approval again is a conflict, never a second grant.
    const again = await api.http.post(`/v1/allocation-requests/${requestId}/approve`).set(admin).send({});
    expect(again.status).toBe(409);

    // The scheduler creates the allocations and posts the grant; balances equal the approved hours.
    const allocations = await waitFor('the grant', async () => {
      const list = await api.http.get(`/v1/allocations?projectId=${projectId}`).set(pi);
      return list.status === 200 && (list.body.items as unknown[]).length === 2
        ? (list.body.items as { id: string; gpuModel: string }[])
        : undefined;
    });
    const h200 = allocations.find((allocation) => allocation.gpuModel === 'H200');
    expect(h200).toBeDefined();
    const detail = await api.http.get(`/v1/allocations/${h200?.id}`).set(pi).expect(200);
    expect(detail.body.granted).toEqual({ gpuSeconds: '5400000', gpuHours: '1500' });
    expect(detail.body.remaining).toEqual({ gpuSeconds: '5400000', gpuHours: '1500' });
    expect(detail.body.held).toEqual({ gpuSeconds: '0', gpuHours: '0' });
    expect(detail.body.consumed).toEqual({ gpuSeconds: '0', gpuHours: '0' });

    // A member of another project sees nothing of it: 404, not 403.
    expect((await api.http.get(`/v1/allocations/${h200?.id}`).set(outsider)).status).toBe(404);
    expect((await api.http.get(`/v1/allocation-requests/${requestId}`).set(outsider)).status).toBe(404);

    // The history lists each step.
    const history = await api.http.get(`/v1/allocation-requests/${requestId}`).set(pi).expect(200);
    const actions = (history.body.history as { action: string }[]).map((event) => event.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'request.created',
        'request.submitted',
        'request.review_added',
        'request.partially_approved',
        'request.granted',
      ]),
    );
    expect(actions.indexOf('request.created')).toBeLessThan(actions.indexOf('request.submitted'));
    expect(actions.indexOf('request.partially_approved')).toBeLessThan(actions.indexOf('request.granted'));
    expect(actions.filter((action) => action === 'request.review_added')).toHaveLength(2);
  });
});
