import type { GpupoolConfig } from '#config';

/** What `npm start` seeds: a small, realistic call with people in every role. All use this password. */
export const DEMO_PASSWORD = 'demo-password';

export type AdminCall = (
  method: string,
  path: string,
  body?: unknown,
  /** Another bearer token than the admin's (demo users acting for themselves). */
  token?: string,
) => Promise<{ status: number; body: Record<string, unknown> }>;

/** Signs in as the bootstrap admin against a running API and returns an authenticated caller. */
export async function adminCaller(baseUrl: string, config: GpupoolConfig): Promise<AdminCall> {
  const raw = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const login = await raw('POST', '/v1/auth/login', {
    email: config.GPUPOOL_ADMIN_EMAIL,
    password: config.GPUPOOL_ADMIN_PASSWORD,
  });
  if (login.status !== 200)
    throw new Error(`the bootstrap admin cannot sign in: ${JSON.stringify(login.body)}`);
  const token = login.body.accessToken as string;
  return (method, path, body, asToken) => raw(method, path, body, asToken ?? token);
}

/**
 * Seeds the demo through the public HTTP API, as an admin would, so it obeys every rule the API
 * enforces. Idempotent: an existing NIPA agency means the demo is already there.
 */
export async function seedDemo(call: AdminCall): Promise<{ seeded: boolean }> {
  const must = async (method: string, path: string, body?: unknown): Promise<string> => {
    const response = await call(method, path, body);
    if (response.status >= 300)
      throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.id as string;
  };

  const agencies = await call('GET', '/v1/agencies');
  if ((agencies.body.items as { code: string }[]).some((agency) => agency.code === 'NIPA'))
    return { seeded: false };

  await must('POST', '/v1/agencies', {
    code: 'MSIT',
    name: '과학기술정보통신부 (Ministry of Science and ICT)',
  });
  await must('POST', '/v1/agencies', {
    code: 'NIPA',
    name: '정보통신산업진흥원 (National IT Industry Promotion Agency)',
  });
  const programId = await must('POST', '/v1/programs', {
    code: 'AI-COMPUTE-2026',
    name: '2026 첨단 GPU 활용 지원사업 (Advanced GPU Support Program)',
    agencyCode: 'NIPA',
    fiscalYear: 2026,
    startsAt: '2026-01-01T00:00:00Z',
    endsAt: '2027-12-31T00:00:00Z',
    budgets: [
      { gpuModel: 'H200', gpuHours: 500000 },
      { gpuModel: 'B200', gpuHours: 300000 },
    ],
    subsidyRates: {
      university: 1,
      research_institute: 1,
      public: 1,
      startup: 0.7,
      youth_startup: 0.85,
      sme: 0.7,
    },
    eligibleOrganizationTypes: [
      'university',
      'research_institute',
      'public',
      'startup',
      'youth_startup',
      'sme',
    ],
    tracks: [
      { code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 4 },
      { code: 'server', kind: 'server', minGpus: 8, maxGpus: 128, gpusPerServer: 8 },
    ],
    sectorTargets: { national: 50, industry: 30, academia: 20 },
    rubric: [
      { key: 'merit', label: 'Technical merit', weight: 4, maxScore: 10 },
      { key: 'impact', label: 'National impact', weight: 3, maxScore: 10 },
      { key: 'feasibility', label: 'Feasibility and team', weight: 3, maxScore: 10 },
    ],
  });

  const kaist = await must('POST', '/v1/organizations', {
    name: 'KAIST',
    type: 'university',
    region: 'daejeon',
    businessRegistrationNumber: '314-82-00128',
  });
  const etri = await must('POST', '/v1/organizations', {
    name: 'ETRI',
    type: 'research_institute',
    region: 'daejeon',
    businessRegistrationNumber: '305-82-00560',
  });
  const hangang = await must('POST', '/v1/organizations', {
    name: 'Hangang AI',
    type: 'startup',
    region: 'seoul',
    businessRegistrationNumber: '211-81-00123',
  });
  await must('POST', '/v1/organizations', {
    name: 'Busan Vision Labs',
    type: 'sme',
    region: 'busan',
    businessRegistrationNumber: '621-86-00344',
  });

  const user = (email: string, name: string, organizationId: string, roles: string[], agencyCode?: string) =>
    must('POST', '/v1/users', {
      email,
      name,
      organizationId,
      roles,
      password: DEMO_PASSWORD,
      ...(agencyCode ? { agencyCode } : {}),
    });
  const pi = await user('pi@kaist.demo', 'Kim Jiwoo', kaist, []);
  const member = await user('member@kaist.demo', 'Lee Seojun', kaist, []);
  const reviewer1 = await user('reviewer1@etri.demo', 'Park Minji', etri, ['reviewer']);
  const reviewer2 = await user('reviewer2@hangang.demo', 'Choi Hyun', hangang, ['reviewer']);
  await user('finance@nipa.demo', 'Jung Yuna', etri, ['finance'], 'NIPA');
  await user('operator@gpupool.demo', 'Kang Doyun', etri, ['operator']);
  await must('POST', `/v1/programs/${programId}/reviewers`, { userId: reviewer1 });
  await must('POST', `/v1/programs/${programId}/reviewers`, { userId: reviewer2 });
  await must('POST', '/v1/projects', {
    title: 'Korean LLM pre-training',
    organizationId: kaist,
    piUserId: pi,
    memberIds: [member],
  });

  // A second project whose request went all the way to an allocation: the simulator's live demo
  // submits its sweeps there (SIMULATOR_DEMO_RATE_PER_MINUTE), so a newcomer watches the scheduler.
  const sweeper = await user('pi@hangang.demo', 'Han Jisoo', hangang, []);
  const sweeps = await must('POST', '/v1/projects', {
    title: 'Vision foundation model sweeps',
    organizationId: hangang,
    piUserId: sweeper,
  });
  const asPi = await callerFor(call, 'pi@hangang.demo');
  const asReviewer = await callerFor(call, 'reviewer1@etri.demo');
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  const requestId = await mustAs(asPi, 'POST', '/v1/allocation-requests', {
    projectId: sweeps,
    programId,
    lines: [{ gpuModel: 'H200', gpuHours: 200000, maxConcurrentGpus: 128 }],
    startsAt: today.toISOString(),
    endsAt: '2027-12-31T00:00:00Z',
    justification: 'Hyper-parameter sweeps for a Korean vision foundation model',
  });
  await mustAs(asPi, 'POST', `/v1/allocation-requests/${requestId}/submit`);
  await mustAs(asReviewer, 'POST', `/v1/allocation-requests/${requestId}/reviews`, {
    scores: { merit: 8, impact: 8, feasibility: 9 },
    comment: 'Clear plan and a capable team.',
  });
  await must('POST', `/v1/allocation-requests/${requestId}/approve`, { note: 'Demo allocation' });
  return { seeded: true };
}

/** The same API as `call`'s, signed in as a demo user (they all share DEMO_PASSWORD). */
async function callerFor(call: AdminCall, email: string): Promise<AdminCall> {
  const login = await call('POST', '/v1/auth/login', { email, password: DEMO_PASSWORD });
  if (login.status !== 200) throw new Error(`${email} cannot sign in: ${JSON.stringify(login.body)}`);
  const token = login.body.accessToken as string;
  return (method, path, body) => call(method, path, body, token);
}

async function mustAs(caller: AdminCall, method: string, path: string, body?: unknown): Promise<string> {
  const response = await caller(method, path, body);
  if (response.status >= 300)
    throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.id as string;
}
