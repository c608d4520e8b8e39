import { randomUUID } from 'node:crypto';
import {
  errorShapeProblem,
  exemplar,
  fillPath,
  loadOperations,
  type Operation,
} from './support/openapi-routes.js';
import { markdownTable, writeResults } from './support/results.js';
import {
  DatabaseFingerprint,
  fieldHints,
  PASSWORD,
  ROLE_NAMES,
  seedWorld,
  type RoleName,
  type World,
} from './support/seeded-world.js';

/**
 * The authorization matrix: every role × every route of docs/openapi.json × own/other project.
 * Who may call what comes from the table below, written from API.md and the contract's summaries,
 * not from the code under test. A role the table refuses must never get a 2xx (nor a 5xx, nor write
 * anything); anonymous callers get 401; allowed callers never get a 5xx.
 */

const RESULTS = 'test/reliability/results/authz.md';

/** `projectMember`/`projectPi` stand for the member and PI of the project the resource belongs to. */
type Who = RoleName | 'everyone' | 'users' | 'tokens' | 'projectMember' | 'projectPi';

interface Rule {
  /** `METHOD /path` as in the contract; `*` matches one path segment or a method. */
  route: string;
  allow: Who[];
  /** Either outcome is acceptable (the contract does not say). */
  maybe?: Who[];
  /** The route names a project's resource: run it on project A's and on project B's. */
  scoped?: boolean;
}

const USERS: RoleName[] = ['member', 'piA', 'piB', 'reviewer', 'operator', 'finance', 'admin'];
const TOKENS: RoleName[] = ['agent', 'meter', 'readToken'];

const TABLE: Rule[] = [
  { route: 'GET /health/live', allow: ['everyone'] },
  { route: 'GET /health/ready', allow: ['everyone'] },
  { route: 'GET /metrics', allow: ['admin', 'operator'], maybe: ['everyone'] },
  { route: 'POST /v1/auth/login', allow: ['everyone'] },
  { route: 'GET /v1/me', allow: ['users'], maybe: ['tokens'] },

  { route: 'POST /v1/allocation-requests', allow: ['projectMember'], maybe: ['admin'], scoped: true },
  { route: 'GET /v1/allocation-requests', allow: ['users'], maybe: ['readToken'] },
  {
    route: 'GET /v1/allocation-requests/{id}',
    allow: ['projectMember', 'admin', 'reviewer'],
    maybe: ['operator', 'finance', 'readToken'],
    scoped: true,
  },
  { route: 'PATCH /v1/allocation-requests/{id}', allow: ['projectMember'], maybe: ['admin'], scoped: true },
  {
    route: 'POST /v1/allocation-requests/{id}/submit',
    allow: ['projectMember'],
    maybe: ['admin'],
    scoped: true,
  },
  {
    route: 'POST /v1/allocation-requests/{id}/withdraw',
    allow: ['projectMember'],
    maybe: ['admin'],
    scoped: true,
  },
  { route: 'POST /v1/allocation-requests/{id}/reviews', allow: ['reviewer'], maybe: ['admin'], scoped: true },
  {
    route: 'POST /v1/allocation-requests/{id}/conflicts',
    allow: ['reviewer'],
    maybe: ['admin'],
    scoped: true,
  },
  { route: 'POST /v1/allocation-requests/{id}/approve', allow: ['admin'], scoped: true },
  { route: 'POST /v1/allocation-requests/{id}/reject', allow: ['admin'], scoped: true },

  { route: 'POST /v1/organizations', allow: ['admin'] },
  { route: 'GET /v1/organizations', allow: ['admin'], maybe: ['users', 'readToken'] },
  { route: 'GET /v1/organizations/{id}', allow: ['admin'], maybe: ['users', 'readToken'] },
  { route: 'POST /v1/users', allow: ['admin'] },
  { route: 'GET /v1/users', allow: ['admin'], maybe: ['operator', 'finance', 'reviewer', 'readToken'] },
  { route: 'GET /v1/users/{id}', allow: ['admin'], maybe: ['users', 'readToken'] },
  { route: 'POST /v1/api-tokens', allow: ['admin', 'operator'] },
  { route: 'GET /v1/api-tokens', allow: ['admin', 'operator'] },
  { route: 'DELETE /v1/api-tokens/{id}', allow: ['admin', 'operator'] },

  // Self-service: a user may create a project of their own organization with themselves as PI
  // (CreateProjectUseCase); the body names project A's (B's) PI and organization.
  { route: 'POST /v1/projects', allow: ['admin', 'projectPi'], scoped: true },
  { route: 'GET /v1/projects', allow: ['users'], maybe: ['readToken'] },
  {
    route: 'GET /v1/projects/{id}',
    allow: ['projectMember', 'admin'],
    maybe: ['operator', 'finance', 'reviewer', 'readToken'],
    scoped: true,
  },
  { route: 'POST /v1/projects/{id}/members', allow: ['projectPi', 'admin'], scoped: true },
  { route: 'DELETE /v1/projects/{id}/members/{userId}', allow: ['projectPi', 'admin'], scoped: true },

  { route: 'POST /v1/agencies', allow: ['admin'] },
  { route: 'GET /v1/agencies', allow: ['admin'], maybe: ['users', 'readToken'] },
  { route: 'POST /v1/programs', allow: ['admin'] },
  { route: 'GET /v1/programs', allow: ['users'], maybe: ['readToken'] },
  { route: 'GET /v1/programs/{id}', allow: ['users'], maybe: ['readToken'] },
  { route: 'PUT /v1/programs/{id}/usage-policy', allow: ['admin'] },
  { route: 'PUT /v1/programs/{id}/sector-targets', allow: ['admin'] },
  { route: 'POST /v1/programs/{id}/reviewers', allow: ['admin'] },
  { route: 'GET /v1/programs/{id}/reviewers', allow: ['admin'], maybe: ['users', 'readToken'] },
  { route: 'DELETE /v1/programs/{id}/reviewers/{userId}', allow: ['admin'] },

  { route: 'GET /v1/allocations', allow: ['users'], maybe: ['readToken'] },
  {
    route: 'GET /v1/allocations/{id}',
    allow: ['projectMember', 'admin'],
    maybe: ['operator', 'finance', 'readToken'],
    scoped: true,
  },
  { route: 'POST /v1/allocations/{id}/suspend', allow: ['admin'], scoped: true },
  { route: 'POST /v1/allocations/{id}/resume', allow: ['admin'], scoped: true },

  { route: 'POST /v1/workloads', allow: ['projectMember', 'admin'], scoped: true },
  { route: 'GET /v1/workloads', allow: ['users'], maybe: ['tokens'] },
  { route: 'POST /v1/workloads/batch', allow: ['projectMember', 'admin'], scoped: true },
  {
    route: 'GET /v1/workloads/{id}',
    allow: ['projectMember', 'admin'],
    maybe: ['operator', 'readToken', 'agent'],
    scoped: true,
  },
  {
    route: 'GET /v1/workloads/{id}/attempts',
    allow: ['projectMember', 'admin'],
    maybe: ['operator', 'readToken', 'agent'],
    scoped: true,
  },
  { route: 'POST /v1/workloads/{id}/cancel', allow: ['projectMember', 'admin'], scoped: true },
  { route: 'POST /v1/agent/workloads/{id}/events', allow: ['agent'], scoped: true },
  { route: 'POST /v1/agent/heartbeats', allow: ['agent'] },

  { route: 'POST /v1/clusters', allow: ['operator', 'admin'] },
  { route: 'GET /v1/clusters', allow: ['operator', 'admin'], maybe: ['users', 'tokens'] },
  { route: 'GET /v1/clusters/{id}', allow: ['operator', 'admin'], maybe: ['users', 'tokens'] },
  { route: 'GET /v1/nodes', allow: ['operator', 'admin'], maybe: ['users', 'tokens'] },
  { route: 'GET /v1/nodes/{id}', allow: ['operator', 'admin'], maybe: ['users', 'tokens'] },
  { route: 'PATCH /v1/nodes/{id}', allow: ['operator', 'admin'] },
  { route: 'GET /v1/pool/capacity', allow: ['users', 'readToken'], maybe: ['agent', 'meter'] },

  { route: 'GET /v1/notifications', allow: ['users'] },
  { route: 'POST /v1/notifications/{id}/read', allow: ['projectMember'], maybe: ['admin'], scoped: true },
  { route: 'POST /v1/webhooks', allow: ['projectPi', 'admin'], scoped: true },
  { route: 'GET /v1/webhooks', allow: ['users'], maybe: ['readToken'] },
  { route: 'GET /v1/webhooks/{id}', allow: ['projectPi', 'admin'], maybe: ['projectMember'], scoped: true },
  { route: 'DELETE /v1/webhooks/{id}', allow: ['projectPi', 'admin'], scoped: true },
  {
    route: 'GET /v1/webhooks/{id}/deliveries',
    allow: ['projectPi', 'admin'],
    maybe: ['projectMember'],
    scoped: true,
  },

  {
    route: 'GET /v1/allocations/{id}/usage',
    allow: ['projectMember', 'admin', 'operator', 'finance'],
    maybe: ['readToken'],
    scoped: true,
  },
  {
    route: 'GET /v1/usage',
    allow: ['projectMember', 'admin', 'operator', 'finance'],
    maybe: ['readToken'],
    scoped: true,
  },
  { route: 'GET /v1/recall-proposals', allow: ['admin'] },
  { route: 'GET /v1/recall-proposals/{id}', allow: ['admin'] },
  { route: 'POST /v1/recall-proposals/{id}/confirm', allow: ['admin'] },
  { route: 'POST /v1/recall-proposals/{id}/dismiss', allow: ['admin'] },
  { route: 'GET /v1/admin/reconciliation', allow: ['admin', 'operator'] },
  { route: 'POST /v1/admin/reconciliation', allow: ['admin'] },
  { route: 'POST /v1/usage/records', allow: ['meter'], scoped: true },
  { route: 'GET /v1/usage/batches/{id}', allow: ['meter'], maybe: ['admin', 'operator'] },

  { route: 'POST /v1/rate-cards', allow: ['admin'] },
  { route: 'GET /v1/rate-cards', allow: ['admin', 'finance', 'operator'] },
  { route: 'GET /v1/programs/{id}/pricing', allow: ['admin', 'finance'] },
  { route: 'PUT /v1/programs/{id}/pricing', allow: ['admin'] },
  { route: 'GET /v1/billing/*', allow: ['finance', 'admin'], maybe: ['operator'] },
  { route: 'GET /v1/billing/*/*', allow: ['finance', 'admin'], maybe: ['operator'] },
  { route: 'GET /v1/billing/*/*/*', allow: ['finance', 'admin'], maybe: ['operator'] },
  { route: 'POST /v1/billing/periods/{period}/close', allow: ['finance'], maybe: ['admin'] },
  { route: 'POST /v1/billing/exports', allow: ['finance', 'admin'] },

  { route: 'POST /v1/planning/what-if', allow: ['admin'] },
  { route: 'GET /v1/planning/waitlist', allow: ['admin'] },
  { route: 'POST /v1/planning/reservations/{allocationId}/release', allow: ['admin'], scoped: true },
];

function ruleFor(operation: Operation): Rule | undefined {
  const exact = TABLE.find((rule) => rule.route === operation.key);
  if (exact) return exact;
  const [method, path] = [operation.method.toUpperCase(), operation.path.split('/')];
  return TABLE.find((rule) => {
    const [ruleMethod, rulePath] = rule.route.split(' ') as [string, string];
    const segments = rulePath.split('/');
    return (
      ruleMethod === method &&
      segments.length === path.length &&
      segments.every((segment, i) => segment === '*' || segment === path[i])
    );
  });
}

type Variant = 'A' | 'B';
type Verdict = 'allow' | 'maybe' | 'refuse';

function resolve(who: Who[], variant: Variant): Set<RoleName> {
  const roles = new Set<RoleName>();
  for (const entry of who) {
    if (entry === 'everyone') ROLE_NAMES.forEach((role) => roles.add(role));
    else if (entry === 'users') USERS.forEach((role) => roles.add(role));
    else if (entry === 'tokens') TOKENS.forEach((role) => roles.add(role));
    else if (entry === 'projectMember')
      (variant === 'A' ? ['member', 'piA'] : ['piB']).forEach((r) => roles.add(r as RoleName));
    else if (entry === 'projectPi') roles.add(variant === 'A' ? 'piA' : 'piB');
    else roles.add(entry);
  }
  return roles;
}

function verdict(rule: Rule, role: RoleName, variant: Variant): Verdict {
  if (resolve(rule.allow, variant).has(role)) return 'allow';
  if (resolve(rule.maybe ?? [], variant).has(role)) return 'maybe';
  return 'refuse';
}

/** Writes that change or end a resource run last, so the others meet the seeded state. */
function writeOrder(operation: Operation): number {
  if (operation.method === 'get') return 0;
  if (/cancel|suspend|resume|withdraw|reject|approve|release|confirm|dismiss|close$/.test(operation.path))
    return 2;
  if (operation.method === 'delete') return 3;
  return 1;
}

interface Outcome {
  route: string;
  variant: Variant;
  role: RoleName;
  verdict: Verdict;
  status: number;
  code: string | null;
}

describe('authorization matrix: every role × every route of docs/openapi.json', () => {
  let world: World;
  let fingerprint: DatabaseFingerprint;
  const operations = loadOperations().sort((a, b) => writeOrder(a) - writeOrder(b));
  const outcomes: Outcome[] = [];
  const startedAt = Date.now();

  beforeAll(async () => {
    world = await seedWorld('authz');
    fingerprint = new DatabaseFingerprint(world.db);
    await fingerprint.prepare();
  }, 120_000);

  afterAll(async () => {
    report(outcomes, ((Date.now() - startedAt) / 1000).toFixed(0));
    await world?.close();
  });

  it('has a rule for every route of the contract', () => {
    const missing = operations.filter((operation) => !ruleFor(operation)).map((operation) => operation.key);
    expect(missing).toEqual([]);
  });

  const pathValues = (operation: Operation, variant: Variant): Record<string, string> => {
    const { ids, userIds } = world;
    const own = variant === 'A';
    const { path } = operation;
    const id = path.startsWith('/v1/allocation-requests')
      ? /\/(reviews|conflicts|approve|reject)$/.test(path)
        ? ids.submittedA
        : own
          ? ids.requestA
          : ids.requestB
      : path.startsWith('/v1/organizations')
        ? ids.orgA
        : path.startsWith('/v1/users')
          ? userIds.member
          : path.startsWith('/v1/api-tokens')
            ? ids.spareTokenId
            : path.startsWith('/v1/projects')
              ? own
                ? ids.projectA
                : ids.projectB
              : path.startsWith('/v1/programs')
                ? ids.programId
                : path.startsWith('/v1/allocations') || path.startsWith('/v1/planning')
                  ? own
                    ? ids.allocationA
                    : ids.allocationB
                  : path.includes('workloads')
                    ? own
                      ? ids.workloadA
                      : ids.workloadB
                    : path.startsWith('/v1/clusters')
                      ? ids.clusterId
                      : path.startsWith('/v1/nodes')
                        ? ids.nodeId
                        : path.startsWith('/v1/notifications')
                          ? ((own ? ids.notificationA : ids.notificationB) ?? randomUUID())
                          : path.startsWith('/v1/webhooks')
                            ? own
                              ? ids.webhookA
                              : ids.webhookB
                            : randomUUID();
    return {
      id,
      allocationId: own ? ids.allocationA : ids.allocationB,
      userId: path.includes('reviewers') ? userIds.spareReviewer : userIds.spareMemberA,
      period: new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 7),
    };
  };

  const bodyFor = (operation: Operation, variant: Variant): unknown => {
    const hints = fieldHints(world, variant);
    switch (operation.key) {
      case 'POST /v1/auth/login':
        return { email: world.emails.member, password: PASSWORD };
      case 'PATCH /v1/allocation-requests/{id}':
        return { justification: 'authz matrix' };
      case 'POST /v1/agent/heartbeats':
        return { clusterIds: [world.ids.clusterId], runs: [] };
      case 'POST /v1/clusters':
        return {
          name: `authz-${randomUUID().slice(0, 8)}`,
          site: 'authz-site',
          nodePools: [{ gpuModel: 'H200', gpusPerNode: 8, nodes: 1 }],
        };
      case 'PATCH /v1/nodes/{id}':
        return { state: 'draining', reason: 'authz matrix' };
      case 'POST /v1/allocation-requests/{id}/reviews':
        return { scores: { merit: 5 }, comment: 'authz matrix' };
      case 'POST /v1/projects/{id}/members':
        return { userId: world.userIds.spareMemberA, role: 'member' };
      case 'POST /v1/programs/{id}/reviewers':
        return { userId: world.userIds.spareReviewer };
    }
    return operation.body ? exemplar(operation.body, hints) : undefined;
  };

  const queryFor = (operation: Operation, variant: Variant): string =>
    operation.key === 'GET /v1/usage'
      ? `?projectId=${variant === 'A' ? world.ids.projectA : world.ids.projectB}`
      : operation.key === 'GET /v1/billing/statements'
        ? `?period=${new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 7)}`
        : '';

  it('refuses every role the table refuses (401 anonymous, 403/404 others), never 5xx, never writes', async () => {
    const violations: string[] = [];
    for (const operation of operations) {
      const rule = ruleFor(operation);
      if (!rule) continue;
      for (const variant of rule.scoped ? (['A', 'B'] as const) : (['A'] as const)) {
        // Refused roles first, so the allowed ones' effects cannot mask a refusal.
        const roles = [...ROLE_NAMES].sort(
          (a, b) =>
            ['refuse', 'maybe', 'allow'].indexOf(verdict(rule, a, variant)) -
            ['refuse', 'maybe', 'allow'].indexOf(verdict(rule, b, variant)),
        );
        for (const role of roles) {
          const expected = verdict(rule, role, variant);
          const before = await fingerprint.take();
          let call = world.api.http[operation.method](
            fillPath(operation.path, pathValues(operation, variant)) + queryFor(operation, variant),
          ).set(world.auth(role));
          const body = bodyFor(operation, variant);
          if (body !== undefined) call = call.send(body as object);
          const response = await call;
          const after = await fingerprint.take();
          const { status } = response;
          const code = (response.body as { error?: { code?: string } } | undefined)?.error?.code ?? null;
          outcomes.push({ route: operation.key, variant, role, verdict: expected, status, code });
          const where = `${operation.key} [${variant}] as ${role} (${expected}) → ${status} ${code ?? ''}`;
          if (status >= 500) violations.push(`5xx: ${where} ${JSON.stringify(response.body)}`);
          if (status >= 400) {
            const shape = errorShapeProblem(response.body);
            if (shape) violations.push(`error shape (${shape}): ${where}`);
            const changed = DatabaseFingerprint.diff(before, after);
            if (changed.length > 0) violations.push(`refused but wrote ${changed.join(', ')}: ${where}`);
          }
          if (expected === 'refuse' && status >= 200 && status < 300)
            violations.push(`2xx for a refused role: ${where}`);
          if (expected === 'refuse' && role === 'anonymous' && status !== 401)
            violations.push(`anonymous not 401: ${where}`);
        }
      }
    }
    if (violations.length > 0) console.log(`authz violations:\n${violations.join('\n')}`);
    expect(violations).toEqual([]);
  });
});

function report(outcomes: Outcome[], seconds: string): void {
  const classOf = (route: string) => {
    const [method, path] = route.split(' ') as [string, string];
    const segment = path.split('/').filter(Boolean)[path.startsWith('/v1/') ? 1 : 0] ?? path;
    return `${segment} ${method === 'GET' ? 'read' : 'write'}`;
  };
  const classes = [...new Set(outcomes.map((o) => classOf(o.route)))].sort();
  const cell = (list: Outcome[]) => {
    const counts = new Map<number, number>();
    for (const o of list) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
    return [...counts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status}×${count}`)
      .join(' ');
  };
  const matrix = classes.map((cls) => [
    cls,
    ...ROLE_NAMES.map((role) => cell(outcomes.filter((o) => classOf(o.route) === cls && o.role === role))),
  ]);
  const refusedOther = outcomes.filter(
    (o) => o.verdict === 'refuse' && o.status >= 400 && ![401, 403, 404].includes(o.status),
  );
  const allowedRefused = outcomes.filter((o) => o.verdict === 'allow' && [401, 403].includes(o.status));
  const allowedInvalid = outcomes.filter((o) => o.verdict === 'allow' && o.status === 400);
  const wrong2xx = outcomes.filter((o) => o.verdict === 'refuse' && o.status >= 200 && o.status < 300);
  const fiveHundreds = outcomes.filter((o) => o.status >= 500);
  const listing = (list: Outcome[]) =>
    list.length === 0
      ? 'none'
      : markdownTable(
          ['route', 'project', 'role', 'status', 'code'],
          list.map((o) => [o.route, o.variant, o.role, o.status, o.code ?? '']),
        );
  const text = [
    `${outcomes.length} calls (${ROLE_NAMES.length} roles × every route, own project A and other project B where the route names one) in ${seconds} s.`,
    `**5xx: ${fiveHundreds.length}; 2xx for a refused role: ${wrong2xx.length}.**`,
    '',
    'Roles: anonymous; member (researcher of project A); piA; piB (PI of another project); reviewer (assigned to the program); operator; finance; admin; agent (API token, scope agent); meter (scope usage:write); readToken (scope read).',
    '',
    '## Role × route class → statuses',
    '',
    markdownTable(['route class', ...ROLE_NAMES], matrix),
    '',
    '## 2xx where the table refuses',
    '',
    listing(wrong2xx),
    '',
    '## 5xx',
    '',
    listing(fiveHundreds),
    '',
    '## Refused with another 4xx than 401/403/404 (validation or state checked before access)',
    '',
    listing(refusedOther),
    '',
    '## Roles the table allows that were refused (401/403)',
    '',
    listing(allowedRefused),
    '',
    '## Roles the table allows that got 400 (the matrix body did not reach the access check)',
    '',
    listing(allowedInvalid),
  ].join('\n');
  writeResults(RESULTS, 'Authorization matrix', 'npm run test:chaos -- test/reliability/authz', text);
  console.log(text);
}
