import fc from 'fast-check';
import {
  bodyArbitrary,
  errorShapeProblem,
  fillPath,
  hostileString,
  loadOperations,
  queryArbitrary,
  WRITE_METHODS,
  wellFormed,
  type Operation,
} from './support/openapi-routes.js';
import { markdownTable, statusClass, writeResults } from './support/results.js';
import {
  DatabaseFingerprint,
  fieldHints,
  ROLE_NAMES,
  seedWorld,
  type RoleName,
  type World,
} from './support/seeded-world.js';

/**
 * Generated request bodies, path ids and query strings against every write route of
 * docs/openapi.json (and, less often, every read): no 5xx, every 4xx in the API.md error shape, and
 * no write from a refused request (the database fingerprint is taken around every request).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 5_200);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const RESULTS = 'test/reliability/results/fuzz.md';

interface Sent {
  route: string;
  role: RoleName;
  url: string;
  body: unknown;
  raw: string | null;
  headers: Record<string, string>;
}

/** The role a route is meant for, so most generated requests get past authorization. */
function preferredRole(operation: Operation): RoleName {
  const { path, method } = operation;
  if (path.startsWith('/v1/agent/')) return 'agent';
  if (path === '/v1/usage/records') return 'meter';
  if (/\/(reviews|conflicts)$/.test(path)) return 'reviewer';
  if (path === '/v1/allocation-requests' || /allocation-requests\/\{id\}(\/(submit|withdraw))?$/.test(path))
    return 'piA';
  if (path.startsWith('/v1/workloads') || path.startsWith('/v1/notifications')) return 'member';
  if (path.startsWith('/v1/webhooks') || (path.includes('/members') && method !== 'get')) return 'piA';
  if (path.startsWith('/v1/clusters') || path.startsWith('/v1/nodes')) return 'operator';
  if (path.startsWith('/v1/billing/')) return 'finance';
  return 'admin';
}

function truncate(value: unknown, max = 600): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

describe('fuzz: generated requests against every route of docs/openapi.json', () => {
  let world: World;
  let fingerprint: DatabaseFingerprint;
  const operations = loadOperations();
  const writes = operations.filter((operation) => WRITE_METHODS.includes(operation.method));
  const reads = operations.filter((operation) => operation.method === 'get');
  const byStatus = new Map<number, number>();
  const byRoute = new Map<string, Map<string, number>>();
  const failures: string[] = [];
  let attempts = 0;
  let bodiesSent = 0;
  let refusedChecked = 0;
  const startedAt = Date.now();

  beforeAll(async () => {
    world = await seedWorld('fuzz');
    fingerprint = new DatabaseFingerprint(world.db);
    await fingerprint.prepare();
  }, 120_000);

  afterAll(async () => {
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
    const classes = new Map<string, number>();
    for (const [status, count] of byStatus)
      classes.set(statusClass(status), (classes.get(statusClass(status)) ?? 0) + count);
    const fiveHundreds = classes.get('5xx') ?? 0;
    const routeRows = [...byRoute.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([route, counts]) => [
        route,
        ...['2xx', '4xx', '5xx'].map((cls) => counts.get(cls) ?? 0),
        [...counts.entries()]
          .filter(([key]) => /^\d+$/.test(key))
          .sort()
          .map(([key, count]) => `${key}:${count}`)
          .join(' '),
      ]);
    const uncovered = operations
      .filter((operation) => !byRoute.has(operation.key))
      .map((operation) => operation.key);
    writeResults(
      RESULTS,
      'Fuzz: generated requests against docs/openapi.json',
      'npm run test:chaos -- test/reliability/fuzz',
      [
        `fast-check seed **${SEED}**, ${attempts} requests (${bodiesSent} with a generated body) in ${seconds} s; ` +
          `${writes.length} write routes and ${reads.length} read routes in the contract.`,
        `Refused requests whose database fingerprint was compared before/after: ${refusedChecked}.`,
        `**5xx: ${fiveHundreds}**; failures: ${failures.length}. Reproduce with \`FUZZ_SEED=${SEED} npm run test:chaos -- test/reliability/fuzz\`.`,
        '',
        '## Status classes',
        '',
        markdownTable(
          ['class', 'count'],
          [...classes.entries()].sort().map(([cls, count]) => [cls, count]),
        ),
        '',
        '## Statuses',
        '',
        markdownTable(
          ['status', 'count'],
          [...byStatus.entries()].sort(([a], [b]) => a - b).map(([status, count]) => [status, count]),
        ),
        '',
        '## Routes covered',
        '',
        markdownTable(['route', '2xx', '4xx', '5xx', 'statuses'], routeRows),
        '',
        uncovered.length > 0
          ? `Not reached this run: ${uncovered.join(', ')}`
          : 'Every route of the contract was reached.',
        '',
        failures.length > 0 ? `## Failures\n\n${failures.map((f) => `- ${f}`).join('\n')}` : '',
      ].join('\n'),
    );
    console.log(
      `fuzz: seed ${SEED}, ${attempts} requests, statuses ${JSON.stringify(Object.fromEntries(byStatus))}`,
    );
    await world?.close();
  });

  /** Existing ids for a path parameter (of project A or B), random ones, or hostile text. */
  const pathValue = (operation: Operation, param: string): fc.Arbitrary<string> => {
    const { ids, userIds } = world;
    const { path } = operation;
    const seeded: string[] =
      param === 'userId'
        ? [userIds.spareMemberA, userIds.spareReviewer, userIds.member]
        : param === 'period'
          ? ['2026-01', new Date().toISOString().slice(0, 7), '1999-12', '2026-13']
          : path.startsWith('/v1/allocation-requests')
            ? [ids.requestA, ids.submittedA, ids.requestB]
            : path.startsWith('/v1/organizations')
              ? [ids.orgA, ids.orgB]
              : path.startsWith('/v1/users')
                ? [userIds.member, userIds.piB]
                : path.startsWith('/v1/api-tokens')
                  ? [ids.spareTokenId]
                  : path.startsWith('/v1/projects')
                    ? [ids.projectA, ids.projectB]
                    : path.startsWith('/v1/programs')
                      ? [ids.programId]
                      : path.startsWith('/v1/allocations') || path.startsWith('/v1/planning')
                        ? [ids.allocationA, ids.allocationB]
                        : path.includes('workloads')
                          ? [ids.workloadA, ids.workloadB]
                          : path.startsWith('/v1/clusters')
                            ? [ids.clusterId]
                            : path.startsWith('/v1/nodes')
                              ? [ids.nodeId]
                              : path.startsWith('/v1/notifications')
                                ? ids.notificationA
                                  ? [ids.notificationA]
                                  : []
                                : path.startsWith('/v1/webhooks')
                                  ? [ids.webhookA, ids.webhookB]
                                  : [];
    return fc.oneof(
      { weight: 6, arbitrary: seeded.length > 0 ? fc.constantFrom(...seeded) : fc.uuid() },
      { weight: 2, arbitrary: fc.uuid() },
      { weight: 2, arbitrary: hostileString.map((text) => text.slice(0, 500)) },
    );
  };

  const requestArbitrary = (): fc.Arbitrary<Sent> => {
    const hints = fieldHints(world, 'A');
    const perOperation = (operation: Operation, generateBody: boolean): fc.Arbitrary<Sent> =>
      fc
        .record({
          values: fc.record(
            Object.fromEntries(operation.pathParams.map((param) => [param, pathValue(operation, param)])),
          ),
          query: fc.oneof(
            { weight: 4, arbitrary: fc.constant({}) },
            { weight: 1, arbitrary: queryArbitrary(operation) },
          ),
          body: generateBody ? bodyArbitrary(operation, hints) : fc.constant(undefined),
          raw: fc.oneof(
            { weight: 30, arbitrary: fc.constant(null) },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                '{',
                '{"a":',
                '[1,2',
                'null',
                '"\\ud800"',
                '{"__proto__":{"admin":true}}',
                '\u0000',
              ),
            },
          ),
          role: fc.oneof(
            { weight: 3, arbitrary: fc.constant(preferredRole(operation)) },
            { weight: 1, arbitrary: fc.constantFrom(...ROLE_NAMES) },
          ),
          idempotencyKey: fc.oneof(
            { weight: 8, arbitrary: fc.constant(null) },
            { weight: 1, arbitrary: fc.uuid() },
            {
              weight: 1,
              arbitrary: fc.constantFrom('short', 'has space in it', 'x'.repeat(200), 'ok-key-ü-12345'),
            },
          ),
          contentType: fc.oneof(
            { weight: 20, arbitrary: fc.constant('application/json') },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                'text/plain',
                'application/x-www-form-urlencoded',
                'application/json; charset=latin1',
              ),
            },
          ),
        })
        .map(({ values, query, body, raw, role, idempotencyKey, contentType }) => {
          const search = new URLSearchParams(
            Object.entries(query).map(([key, value]): [string, string] => [key, wellFormed(value)]),
          ).toString();
          const headers: Record<string, string> = { ...world.auth(role) };
          if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
          if (body !== undefined || raw !== null) headers['content-type'] = contentType;
          return {
            route: operation.key,
            role,
            url: fillPath(operation.path, values) + (search ? `?${search}` : ''),
            body,
            raw,
            headers,
          };
        });
    return fc.oneof(
      { weight: 9, arbitrary: fc.oneof(...writes.map((operation) => perOperation(operation, true))) },
      { weight: 1, arbitrary: fc.oneof(...reads.map((operation) => perOperation(operation, false))) },
    );
  };

  const send = async (sent: Sent) => {
    const method = sent.route.split(' ')[0].toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete';
    let call = world.api.http[method](sent.url).set(sent.headers);
    const payload = sent.raw ?? (sent.body === undefined ? undefined : JSON.stringify(sent.body));
    if (payload !== undefined) call = call.send(payload);
    return call;
  };

  it(`sends ${RUNS} generated requests: no 5xx, API.md errors, no write from a refused request`, async () => {
    console.log(`fuzz: fast-check seed ${SEED} (FUZZ_SEED=${SEED} reproduces the run)`);
    let before = await fingerprint.take();
    await fc.assert(
      fc.asyncProperty(requestArbitrary(), async (sent) => {
        attempts += 1;
        if (sent.body !== undefined || sent.raw !== null) bodiesSent += 1;
        const response = await send(sent);
        const after = await fingerprint.take();
        const status = response.status;
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        const counts = byRoute.get(sent.route) ?? new Map<string, number>();
        counts.set(statusClass(status), (counts.get(statusClass(status)) ?? 0) + 1);
        counts.set(String(status), (counts.get(String(status)) ?? 0) + 1);
        byRoute.set(sent.route, counts);
        const changed = DatabaseFingerprint.diff(before, after);
        before = after;
        const describe = () =>
          `${sent.route} as ${sent.role}: ${sent.url} body ${truncate(sent.raw ?? sent.body)} → ${status} ${truncate(response.body)}`;
        let problem: string | null = null;
        if (status >= 500) problem = `5xx: ${describe()}`;
        else if (status >= 400) {
          const shape = errorShapeProblem(response.body);
          if (shape) problem = `error shape (${shape}): ${describe()}`;
          else if (changed.length > 0) problem = `refused but wrote ${changed.join(', ')}: ${describe()}`;
          refusedChecked += 1;
        } else if (status < 200 || status >= 300) problem = `unexpected status: ${describe()}`;
        if (problem) {
          if (failures.length < 50) failures.push(problem);
          throw new Error(problem);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, verbose: 1 },
    );
    expect(failures).toEqual([]);
  });
});
