import { readFileSync } from 'node:fs';
import { startApi, type ApiHarness } from '../support/api-harness.js';

describe('API skeleton', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi('skeleton');
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers liveness and readiness', async () => {
    await api.http.get('/health/live').expect(200, { status: 'ok' });
    const ready = await api.http.get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'up', queue: 'up' });
  });

  it('echoes a sane X-Request-Id and gives every other response a new one', async () => {
    const given = await api.http.get('/health/live').set('x-request-id', 'trace-42.a_b');
    expect(given.headers['x-request-id']).toBe('trace-42.a_b');
    const unsafe = await api.http.get('/v1/me').set('x-request-id', 'not an id');
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const none = await api.http.get('/v1/nowhere');
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(none.headers['x-request-id']).not.toBe(unsafe.headers['x-request-id']);
  });

  it('exposes Prometheus metrics', async () => {
    const metrics = await api.http.get('/metrics').expect(200);
    expect(metrics.text).toContain('gpupool_api_process_cpu_seconds_total');
    expect(metrics.text).toContain('gpupool_grant_intents');
  });

  it('publishes OpenAPI generated from the schemas', async () => {
    const doc = await api.http.get('/docs-json').expect(200);
    expect(doc.body.paths['/v1/auth/login']).toBeDefined();
    expect(JSON.stringify(doc.body)).toContain('password');
  });

  it('serves exactly the committed OpenAPI contract (run `npm run openapi` after changing the API)', async () => {
    const doc = await api.http.get('/docs-json').expect(200);
    const committed: unknown = JSON.parse(readFileSync('docs/openapi.json', 'utf8'));
    expect(doc.body).toEqual(committed);
  });

  it('returns the API.md error body for unknown fields, bad JSON and missing auth', async () => {
    const unknown = await api.http.post('/v1/auth/login').send({ email: 'a@b.kr', password: 'x', extra: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('VALIDATION_FAILED');
    const badJson = await api.http
      .post('/v1/auth/login')
      .set('content-type', 'application/json')
      .send('{"email":');
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.code).toBe('INVALID_JSON');
    const noAuth = await api.http.get('/v1/me');
    expect(noAuth.status).toBe(401);
    expect(noAuth.body.error.code).toBe('UNAUTHENTICATED');
    const noRoute = await api.http.get('/v1/nowhere').set('authorization', `Bearer ${api.adminToken}`);
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error.code).toBe('NOT_FOUND');
  });

  it('logs in the bootstrap admin', async () => {
    const me = await api.http.get('/v1/me').set('authorization', `Bearer ${api.adminToken}`).expect(200);
    expect(me.body.roles).toEqual(['admin']);
    const wrong = await api.http
      .post('/v1/auth/login')
      .send({ email: 'admin@test.gpupool.kr', password: 'nope' });
    expect(wrong.status).toBe(401);
  });
});
