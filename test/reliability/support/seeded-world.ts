import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '#persistence';
import type { FieldHints } from './openapi-routes.js';
import { startApi, type ApiHarness } from '../../support/api-harness.js';
import { grantUseCase } from '../../support/grant.js';

const DAY_MS = 86_400_000;
export const PASSWORD = 'reliability-password-1';

/** Who calls: each role of the authorization matrix with its bearer token (null: anonymous). */
export const ROLE_NAMES = [
  'anonymous',
  'member', // a researcher, member of project A
  'piA',
  'piB', // PI of another project
  'reviewer', // reviewer assigned to the program
  'operator',
  'finance',
  'admin',
  'agent', // API token, scope agent
  'meter', // API token, scope usage:write
  'readToken', // API token, scope read
] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export interface World {
  api: ApiHarness;
  db: DataSource;
  tokens: Record<RoleName, string | null>;
  userIds: Record<
    'member' | 'piA' | 'piB' | 'reviewer' | 'operator' | 'finance' | 'spareMemberA' | 'spareReviewer',
    string
  >;
  emails: Record<'member', string>;
  /** Resources of project A ("own") and project B ("other"), and shared ones. */
  ids: {
    agencyCode: string;
    programId: string;
    orgA: string;
    orgB: string;
    projectA: string;
    projectB: string;
    requestA: string; // a draft of project A
    requestB: string; // a draft of project B
    submittedA: string; // submitted, undecided, of project A
    allocationA: string;
    allocationB: string;
    workloadA: string;
    workloadB: string;
    clusterId: string;
    nodeId: string;
    webhookA: string;
    webhookB: string;
    spareTokenId: string;
    notificationA: string | null;
    notificationB: string | null;
  };
  auth(role: RoleName): Record<string, string>;
  close(): Promise<void>;
}

/**
 * One API on its own database, seeded over HTTP as clients would (the grant is the scheduler's job:
 * run here through its use case): a program, two projects with their PIs, a researcher, a reviewer,
 * an operator, finance, API tokens, a cluster, allocations, workloads and webhooks.
 */
export async function seedWorld(label: string, overrides: Record<string, string> = {}): Promise<World> {
  const api = await startApi(label, overrides);
  const db = createDataSource({ url: api.databaseUrl, poolSize: 2, applicationName: `${label}-checks` });
  await db.initialize();
  const admin: Record<string, string> = { authorization: `Bearer ${api.adminToken}` };
  const suffix = randomBytes(3).toString('hex');

  const post = async (path: string, body: unknown, headers = admin, expected = [200, 201, 202]) => {
    const response = await api.http
      .post(path)
      .set(headers)
      .send(body as object);
    if (!expected.includes(response.status))
      throw new Error(`seed: POST ${path} → ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as Record<string, unknown>;
  };

  const agencyCode = `REL${suffix.toUpperCase()}`;
  await post('/v1/agencies', { code: agencyCode, name: 'Reliability agency' });
  const now = Date.now();
  const program = await post('/v1/programs', {
    code: `REL-${suffix.toUpperCase()}`,
    name: 'Reliability program',
    agencyCode,
    fiscalYear: new Date(now).getUTCFullYear(),
    startsAt: new Date(now - 30 * DAY_MS).toISOString(),
    endsAt: new Date(now + 365 * DAY_MS).toISOString(),
    budgets: [{ gpuModel: 'H200', gpuHours: 1_000_000 }],
    subsidyRates: { university: 1 },
    eligibleOrganizationTypes: ['university'],
    tracks: [
      { code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 8 },
      { code: 'server', kind: 'server', minGpus: 8, maxGpus: 64, gpusPerServer: 8 },
    ],
    rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }],
  });
  const programId = program.id as string;
  const orgA = (
    await post('/v1/organizations', { name: `Org A ${suffix}`, type: 'university', region: 'daejeon' })
  ).id as string;
  const orgB = (
    await post('/v1/organizations', { name: `Org B ${suffix}`, type: 'university', region: 'seoul' })
  ).id as string;
  const user = async (name: string, organizationId: string, roles: string[], agency?: string) =>
    (
      await post('/v1/users', {
        email: `${name.toLowerCase()}-${suffix}@test.gpupool.kr`,
        name,
        organizationId,
        roles,
        password: PASSWORD,
        ...(agency ? { agencyCode: agency } : {}),
      })
    ).id as string;
  const userIds = {
    member: await user('member', orgA, []),
    piA: await user('piA', orgA, []),
    piB: await user('piB', orgB, []),
    reviewer: await user('reviewer', orgB, ['reviewer']),
    operator: await user('operator', orgB, ['operator']),
    finance: await user('finance', orgB, ['finance']),
    spareMemberA: await user('spareMemberA', orgA, []),
    spareReviewer: await user('spareReviewer', orgB, ['reviewer']),
  };
  await post(`/v1/programs/${programId}/reviewers`, { userId: userIds.reviewer });
  await post(`/v1/programs/${programId}/reviewers`, { userId: userIds.spareReviewer });
  const projectA = (
    await post('/v1/projects', {
      title: `Project A ${suffix}`,
      organizationId: orgA,
      piUserId: userIds.piA,
      memberIds: [userIds.member, userIds.spareMemberA],
    })
  ).id as string;
  const projectB = (
    await post('/v1/projects', { title: `Project B ${suffix}`, organizationId: orgB, piUserId: userIds.piB })
  ).id as string;

  const login = (name: string) => api.login(`${name.toLowerCase()}-${suffix}@test.gpupool.kr`, PASSWORD);
  const tokenOf = async (scopes: string[]) =>
    (await post('/v1/api-tokens', { name: `reliability ${scopes.join(',')}`, scopes })).token as string;
  const tokens: Record<RoleName, string | null> = {
    anonymous: null,
    member: await login('member'),
    piA: await login('piA'),
    piB: await login('piB'),
    reviewer: await login('reviewer'),
    operator: await login('operator'),
    finance: await login('finance'),
    admin: api.adminToken,
    agent: await tokenOf(['agent']),
    meter: await tokenOf(['usage:write']),
    readToken: await tokenOf(['read']),
  };
  const auth = (role: RoleName): Record<string, string> =>
    tokens[role] ? { authorization: `Bearer ${tokens[role]}` } : {};
  const spareTokenId = (await post('/v1/api-tokens', { name: 'spare', scopes: ['read'] })).id as string;

  const requestBody = (projectId: string) => ({
    projectId,
    programId,
    lines: [{ gpuModel: 'H200', gpuHours: 1_000, maxConcurrentGpus: 8 }],
    startsAt: new Date(now + DAY_MS).toISOString(),
    endsAt: new Date(now + 90 * DAY_MS).toISOString(),
    justification: 'Reliability suite',
  });
  const draft = async (projectId: string, role: RoleName) =>
    (await post('/v1/allocation-requests', requestBody(projectId), auth(role))).id as string;
  const granted = async (projectId: string, role: RoleName): Promise<string> => {
    const id = await draft(projectId, role);
    await post(`/v1/allocation-requests/${id}/submit`, {}, auth(role));
    await post(`/v1/allocation-requests/${id}/approve`, {});
    const outcome = await grantUseCase(db).execute(id);
    if (outcome.outcome !== 'granted') throw new Error(`seed: grant of ${id}: ${outcome.outcome}`);
    const allocationId = outcome.allocationIds[0];
    // Open the window around now, so workloads are accepted.
    await db.query('UPDATE allocations SET starts_at = $2, ends_at = $3 WHERE id = $1', [
      allocationId,
      new Date(now - DAY_MS),
      new Date(now + 60 * DAY_MS),
    ]);
    return allocationId;
  };
  const allocationA = await granted(projectA, 'piA');
  const allocationB = await granted(projectB, 'piB');
  const requestA = await draft(projectA, 'member');
  const requestB = await draft(projectB, 'piB');
  const submittedA = await draft(projectA, 'piA');
  await post(`/v1/allocation-requests/${submittedA}/submit`, {}, auth('piA'));

  const cluster = await post(
    '/v1/clusters',
    {
      name: `rel-${suffix}`,
      site: `site-${suffix}`,
      nodePools: [{ gpuModel: 'H200', gpusPerNode: 8, nodes: 4 }],
    },
    auth('operator'),
  );
  const clusterId = cluster.id as string;
  const nodes = await api.http.get(`/v1/nodes?clusterId=${clusterId}`).set(admin);
  const nodeId = (nodes.body as { items: { id: string }[] }).items[0].id;
  const workload = async (allocationId: string, role: RoleName) =>
    (
      await post(
        '/v1/workloads',
        { allocationId, gpuModel: 'H200', gpus: 1, walltimeSeconds: 3600, name: 'seed' },
        auth(role),
      )
    ).id as string;
  const workloadA = await workload(allocationA, 'member');
  const workloadB = await workload(allocationB, 'piB');
  const webhookA = (
    await post('/v1/webhooks', { projectId: projectA, url: 'https://hooks.example.com/a' }, auth('piA'))
  ).id as string;
  const webhookB = (
    await post('/v1/webhooks', { projectId: projectB, url: 'https://hooks.example.com/b' }, auth('piB'))
  ).id as string;
  // Suspending and resuming an allocation notifies its project: notifications to read.
  const notificationOf = async (allocationId: string, role: RoleName) => {
    await post(`/v1/allocations/${allocationId}/suspend`, { reason: 'seed' });
    await post(`/v1/allocations/${allocationId}/resume`, {});
    const inbox = await api.http.get('/v1/notifications').set(auth(role));
    return (inbox.body as { items?: { id: string }[] }).items?.[0]?.id ?? null;
  };
  const notificationA = await notificationOf(allocationA, 'piA');
  const notificationB = await notificationOf(allocationB, 'piB');

  return {
    api,
    db,
    tokens,
    userIds,
    emails: { member: `member-${suffix}@test.gpupool.kr` },
    ids: {
      agencyCode,
      programId,
      orgA,
      orgB,
      projectA,
      projectB,
      requestA,
      requestB,
      submittedA,
      allocationA,
      allocationB,
      workloadA,
      workloadB,
      clusterId,
      nodeId,
      webhookA,
      webhookB,
      spareTokenId,
      notificationA,
      notificationB,
    },
    auth,
    close: async () => {
      await db.destroy();
      await api.close();
    },
  };
}

/** The tables the write routes are most likely to touch: checksummed whole, row by row. */
export const WATCHED_TABLES = [
  'workloads',
  'allocation_requests',
  'ledger_transactions',
  'audit_events',
  'usage_records',
  'api_tokens',
  'users',
  'projects',
  'programs',
  'notifications',
  'webhook_subscriptions',
  'idempotency_keys',
];

/**
 * A fingerprint of the database: count(*) of every public table, and a checksum of every row of
 * the watched tables (minus `volatileColumns`, written by reads too, e.g. a token's last use).
 */
export class DatabaseFingerprint {
  private sql = '';
  constructor(
    private readonly db: DataSource,
    private readonly volatileColumns: Record<string, string[]> = { api_tokens: ['last_used_at'] },
  ) {}

  async prepare(): Promise<void> {
    const tables = await this.db.query<{ table_name: string }[]>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    const columns = await this.db.query<{ table_name: string; column_name: string }[]>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    const parts = tables.map(({ table_name: table }) => {
      if (!WATCHED_TABLES.includes(table))
        return `SELECT '${table}' AS t, count(*)::text AS v FROM "${table}"`;
      const kept = columns
        .filter((c) => c.table_name === table && !(this.volatileColumns[table] ?? []).includes(c.column_name))
        .map((c) => `"${c.column_name}"`);
      return `SELECT '${table}' AS t, count(*)::text || ':' || coalesce(md5(string_agg(row(${kept.join(', ')})::text, '|' ORDER BY row(${kept.join(', ')})::text)), '') AS v FROM "${table}"`;
    });
    this.sql = parts.join(' UNION ALL ');
  }

  async take(): Promise<Map<string, string>> {
    const rows = await this.db.query<{ t: string; v: string }[]>(this.sql);
    return new Map(rows.map((row) => [row.t, row.v]));
  }

  static diff(before: Map<string, string>, after: Map<string, string>): string[] {
    return [...after.keys()].filter((table) => before.get(table) !== after.get(table));
  }
}

export const anyUuid = (): string => randomUUID();

/**
 * Valid values by field name for bodies built from the contract's schemas: the resources of
 * project A ("own") or B ("other").
 */
export function fieldHints(world: World, variant: 'A' | 'B'): FieldHints {
  const now = Date.now();
  const { ids, userIds } = world;
  const previousMonth = new Date(now - 31 * DAY_MS).toISOString().slice(0, 7);
  return {
    projectId: () => (variant === 'A' ? ids.projectA : ids.projectB),
    programId: () => ids.programId,
    allocationId: () => (variant === 'A' ? ids.allocationA : ids.allocationB),
    workloadId: () => (variant === 'A' ? ids.workloadA : ids.workloadB),
    userId: () => userIds.spareMemberA,
    piUserId: () => (variant === 'A' ? userIds.piA : userIds.piB),
    organizationId: () => (variant === 'A' ? ids.orgA : ids.orgB),
    memberIds: () => [],
    requestIds: () => [ids.submittedA],
    clusterIds: () => [ids.clusterId],
    nodeIds: () => [],
    agencyCode: () => ids.agencyCode,
    gpuModel: () => 'H200',
    email: () => `rel-${randomUUID().slice(0, 8)}@test.gpupool.kr`,
    password: () => 'reliability-password-2',
    url: () => 'https://hooks.example.com/reliability',
    period: () => previousMonth,
    startsAt: () => new Date(now + DAY_MS).toISOString(),
    endsAt: () => new Date(now + 60 * DAY_MS).toISOString(),
    startedAt: () => new Date(now - 2 * 3600_000).toISOString(),
    endedAt: () => new Date(now - 3600_000).toISOString(),
    effectiveFrom: () => new Date(Math.floor(now / 1000) * 1000 + 90 * DAY_MS).toISOString(),
    at: () => new Date(now).toISOString(),
    externalId: () => randomUUID(),
    source: () => 'reliability',
    code: () => `RL${randomUUID().slice(0, 6).toUpperCase()}`,
    nodes: () => 1,
    gpusPerNode: () => 8,
    gpus: () => 1,
    walltimeSeconds: () => 3600,
    gpuHours: () => 10,
    maxConcurrentGpus: () => 4,
    fiscalYear: () => new Date(now).getUTCFullYear(),
  };
}
