import { randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { markdownTable, writeResults } from './support/results.js';
import { seedWorld, type RoleName, type World } from './support/seeded-world.js';

/**
 * Concurrent duplicates. 20 identical POSTs at once with one Idempotency-Key: exactly one effect,
 * and every caller ends with the first answer (a 409 IDEMPOTENCY_IN_PROGRESS is allowed on the way,
 * then a retry gets the stored answer). 20 at once without a key: 20 effects, or the route's
 * documented de-duplication (a unique code or name: one 2xx and 409s; usage records: one record,
 * the rest duplicates). No 5xx, and the ledger stays balanced throughout.
 */

const COPIES = 20;
const DAY_MS = 86_400_000;
const RESULTS = 'test/reliability/results/duplicates.md';

interface CreateRoute {
  name: string;
  role: RoleName;
  path: (world: World) => string;
  body: (world: World) => unknown;
  /** Rows that one accepted request adds (SQL returning one count). */
  effect: string;
  /** Without a key, identical requests de-duplicate: one effect (the others 409 or "duplicates"). */
  unique?: boolean;
}

const unique = () => randomUUID().slice(0, 8);

const ROUTES: CreateRoute[] = [
  {
    name: 'POST /v1/organizations',
    role: 'admin',
    path: () => '/v1/organizations',
    body: () => ({ name: `Dup org ${unique()}`, type: 'university', region: 'busan' }),
    effect: 'SELECT count(*) FROM organizations',
  },
  {
    name: 'POST /v1/users',
    role: 'admin',
    path: () => '/v1/users',
    body: (world) => ({
      email: `dup-${unique()}@test.gpupool.kr`,
      name: 'Dup',
      organizationId: world.ids.orgA,
      roles: [],
    }),
    effect: 'SELECT count(*) FROM users',
    unique: true, // one account per email
  },
  {
    name: 'POST /v1/api-tokens',
    role: 'admin',
    path: () => '/v1/api-tokens',
    body: () => ({ name: `dup ${unique()}`, scopes: ['read'] }),
    effect: 'SELECT count(*) FROM api_tokens',
  },
  {
    name: 'POST /v1/projects',
    role: 'admin',
    path: () => '/v1/projects',
    body: (world) => ({
      title: `Dup ${unique()}`,
      organizationId: world.ids.orgA,
      piUserId: world.userIds.piA,
    }),
    effect: 'SELECT count(*) FROM projects',
  },
  {
    name: 'POST /v1/agencies',
    role: 'admin',
    path: () => '/v1/agencies',
    body: () => ({ code: `DUP${unique().toUpperCase()}`, name: 'Dup agency' }),
    effect: 'SELECT count(*) FROM agencies',
    unique: true,
  },
  {
    name: 'POST /v1/allocation-requests',
    role: 'piA',
    path: () => '/v1/allocation-requests',
    body: (world) => ({
      projectId: world.ids.projectA,
      programId: world.ids.programId,
      lines: [{ gpuModel: 'H200', gpuHours: 10, maxConcurrentGpus: 2 }],
      startsAt: new Date(Date.now() + DAY_MS).toISOString(),
      endsAt: new Date(Date.now() + 30 * DAY_MS).toISOString(),
      justification: 'duplicates',
    }),
    effect: 'SELECT count(*) FROM allocation_requests',
  },
  {
    name: 'POST /v1/workloads',
    role: 'member',
    path: () => '/v1/workloads',
    body: (world) => ({
      allocationId: world.ids.allocationA,
      gpuModel: 'H200',
      gpus: 1,
      walltimeSeconds: 600,
      name: 'dup',
    }),
    effect: 'SELECT count(*) FROM workloads',
  },
  {
    name: 'POST /v1/webhooks',
    role: 'piA',
    path: () => '/v1/webhooks',
    body: (world) => ({ projectId: world.ids.projectA, url: `https://hooks.example.com/${unique()}` }),
    effect: 'SELECT count(*) FROM webhook_subscriptions',
  },
  {
    name: 'POST /v1/clusters',
    role: 'operator',
    path: () => '/v1/clusters',
    body: () => ({
      name: `dup-${unique()}`,
      site: 'dup-site',
      nodePools: [{ gpuModel: 'H200', gpusPerNode: 8, nodes: 1 }],
    }),
    effect: 'SELECT count(*) FROM clusters',
    unique: true, // 409 CLUSTER_NAME_TAKEN
  },
  {
    name: 'POST /v1/rate-cards',
    role: 'admin',
    path: () => '/v1/rate-cards',
    body: () => ({
      gpuModel: 'H200',
      krwPerGpuHour: 3000,
      effectiveFrom: new Date(
        Math.floor(Date.now() / 1000) * 1000 + 400 * DAY_MS + Math.floor(Math.random() * 1e6) * 1000,
      ).toISOString(),
    }),
    effect: 'SELECT count(*) FROM rate_cards',
    unique: true, // 409 RATE_CARD_EXISTS: one card per model and instant
  },
  {
    name: 'POST /v1/usage/records',
    role: 'meter',
    path: () => '/v1/usage/records',
    body: (world) => ({
      records: [
        {
          source: 'duplicates',
          externalId: unique(),
          allocationId: world.ids.allocationA,
          gpuModel: 'H200',
          gpus: 1,
          startedAt: new Date(Date.now() - 2 * 3600_000).toISOString(),
          endedAt: new Date(Date.now() - 3600_000).toISOString(),
        },
      ],
    }),
    effect: 'SELECT count(*) FROM usage_records',
    unique: true, // a re-send counts once, by source + externalId
  },
];

describe('concurrent duplicates', () => {
  let world: World;
  const rows: (string | number)[][] = [];
  const startedAt = Date.now();

  beforeAll(async () => {
    world = await seedWorld('duplicates');
  }, 120_000);

  afterAll(async () => {
    writeResults(
      RESULTS,
      'Concurrent duplicates',
      'npm run test:chaos -- test/reliability/duplicates',
      [
        `${COPIES} identical requests at once per route and mode, in ${((Date.now() - startedAt) / 1000).toFixed(0)} s.`,
        '',
        markdownTable(['route', 'mode', 'statuses', 'effects', 'expected effects'], rows),
      ].join('\n'),
    );
    await world?.close();
  });

  const count = async (sql: string) => Number((await world.db.query<{ count: string }[]>(sql))[0].count);
  const send = (route: CreateRoute, path: string, body: unknown, key: string | null): Promise<Response> => {
    let call = world.api.http.post(path).set(world.auth(route.role));
    if (key) call = call.set('idempotency-key', key);
    return call.send(body as object);
  };
  const statuses = (responses: Response[]) => {
    const counts = new Map<number, number>();
    for (const r of responses) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    return [...counts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
  };

  async function ledgerProblems(): Promise<unknown[]> {
    const unbalanced = await world.db.query<unknown[]>(
      'SELECT transaction_id, sum(amount)::text AS sum FROM ledger_entries GROUP BY transaction_id HAVING sum(amount) <> 0',
    );
    const empty = await world.db.query<unknown[]>(
      'SELECT t.id FROM ledger_transactions t WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.transaction_id = t.id)',
    );
    const drifted = await world.db.query<unknown[]>(`
      SELECT coalesce(b.account, e.account) AS account, b.balance::text AS balance, e.sum::text AS entries
      FROM account_balances b
      FULL JOIN (SELECT account, sum(amount) AS sum FROM ledger_entries GROUP BY account) e ON e.account = b.account
      WHERE coalesce(b.balance, 0) <> coalesce(e.sum, 0)`);
    return [...unbalanced, ...empty.map((row: unknown) => ({ emptyTransaction: row })), ...drifted];
  }

  it.each(ROUTES.map((route) => [route.name, route] as const))(
    '%s: 20 at once with one Idempotency-Key → one effect, one answer',
    async (_name, route) => {
      const path = route.path(world);
      const body = route.body(world);
      const key = `dup-${randomUUID()}`;
      const before = await count(route.effect);
      let responses = await Promise.all(Array.from({ length: COPIES }, () => send(route, path, body, key)));
      const firstStatuses = statuses(responses);
      expect(responses.filter((r) => r.status >= 500)).toEqual([]);
      // A duplicate that found the first still running answers 409 in progress: ask again.
      for (let round = 0; round < 10 && responses.some(inProgress); round += 1) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        responses = await Promise.all(
          responses.map(async (r) => (inProgress(r) ? await send(route, path, body, key) : r)),
        );
      }
      const effects = (await count(route.effect)) - before;
      rows.push([route.name, 'one key', firstStatuses, effects, 1]);
      const answers = [...new Set(responses.map((r) => `${r.status} ${canonical(r.body)}`))];
      expect(answers).toEqual([answers[0]]);
      expect(responses[0].status).toBeGreaterThanOrEqual(200);
      expect(responses[0].status).toBeLessThan(300);
      expect(effects).toBe(1);
      expect(await ledgerProblems()).toEqual([]);
    },
  );

  it.each(ROUTES.map((route) => [route.name, route] as const))(
    '%s: 20 at once without a key → 20 effects or the documented de-duplication',
    async (_name, route) => {
      const path = route.path(world);
      const body = route.body(world);
      const before = await count(route.effect);
      const responses = await Promise.all(
        Array.from({ length: COPIES }, () => send(route, path, body, null)),
      );
      const effects = (await count(route.effect)) - before;
      rows.push([route.name, 'no key', statuses(responses), effects, route.unique ? 1 : COPIES]);
      expect(responses.filter((r) => r.status >= 500).map((r): unknown => r.body)).toEqual([]);
      if (route.unique) {
        expect(effects).toBe(1);
        const accepted = responses.filter((r) => r.status >= 200 && r.status < 300);
        // Usage records answer 202 to every copy, counting the re-sends as duplicates.
        if (route.name === 'POST /v1/usage/records') {
          expect(accepted).toHaveLength(COPIES);
          const tally = accepted.reduce(
            (sum, r) => ({
              accepted: sum.accepted + (r.body as { accepted: number }).accepted,
              duplicates: sum.duplicates + (r.body as { duplicates: number }).duplicates,
            }),
            { accepted: 0, duplicates: 0 },
          );
          expect(tally).toEqual({ accepted: 1, duplicates: COPIES - 1 });
        } else {
          expect(accepted).toHaveLength(1);
          expect(responses.filter((r) => r.status === 409)).toHaveLength(COPIES - 1);
        }
      } else {
        expect(effects).toBe(COPIES);
        expect(responses.every((r) => r.status >= 200 && r.status < 300)).toBe(true);
        expect(new Set(responses.map((r) => (r.body as { id?: string }).id)).size).toBe(COPIES);
      }
      expect(await ledgerProblems()).toEqual([]);
    },
  );

  it('state changes with one key: a submit and a cancel happen once', async () => {
    const draft = await world.api.http
      .post('/v1/allocation-requests')
      .set(world.auth('piA'))
      .send(ROUTES.find((r) => r.name === 'POST /v1/allocation-requests')!.body(world) as object);
    expect(draft.status).toBe(201);
    const workload = await world.api.http
      .post('/v1/workloads')
      .set(world.auth('member'))
      .send(ROUTES.find((r) => r.name === 'POST /v1/workloads')!.body(world) as object);
    expect(workload.status).toBe(202);
    for (const [path, subject] of [
      [`/v1/allocation-requests/${draft.body.id as string}/submit`, draft.body.id as string],
      [`/v1/workloads/${workload.body.id as string}/cancel`, workload.body.id as string],
    ] as const) {
      const key = `dup-${randomUUID()}`;
      const auditBefore = await count(`SELECT count(*) FROM audit_events WHERE subject_id = '${subject}'`);
      let responses = await Promise.all(
        Array.from({ length: COPIES }, () =>
          world.api.http.post(path).set(world.auth('piA')).set('idempotency-key', key).send({}),
        ),
      );
      for (let round = 0; round < 10 && responses.some(inProgress); round += 1) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        responses = await Promise.all(
          responses.map(async (r) =>
            inProgress(r)
              ? await world.api.http.post(path).set(world.auth('piA')).set('idempotency-key', key).send({})
              : r,
          ),
        );
      }
      const effects =
        (await count(`SELECT count(*) FROM audit_events WHERE subject_id = '${subject}'`)) - auditBefore;
      rows.push([
        `POST ${path.replace(subject, '{id}')}`,
        'one key',
        statuses(responses),
        `${effects} audit`,
        1,
      ]);
      const answers = [...new Set(responses.map((r) => `${r.status} ${canonical(r.body)}`))];
      expect(answers).toEqual([answers[0]]);
      expect(responses[0].status).toBe(200);
      expect(effects).toBe(1);
    }
    expect(await ledgerProblems()).toEqual([]);
  });
});

function inProgress(response: Response): boolean {
  return (
    response.status === 409 &&
    (response.body as { error?: { code?: string } }).error?.code === 'IDEMPOTENCY_IN_PROGRESS'
  );
}

/**
 * JSON with keys sorted: a replayed answer comes from a jsonb column, which keeps the values but not
 * the key order of the first answer.
 */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)))
      : item,
  );
}
