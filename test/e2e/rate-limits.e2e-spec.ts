import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { DataSource } from 'typeorm';
import { makeUser } from '../factories/program.factory.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startApi, type ApiHarness } from '../support/api-harness.js';

/**
 * Issue 13 item 5: 60 wrong passwords and then the right one all got through. Each harness here has
 * small limits of its own; the counts live in the real Redis under the harness's queue prefix.
 */
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

const small = {
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '5',
  RATE_LIMIT_LOGIN_PER_ADDRESS: '1000',
  RATE_LIMIT_LOGIN_WINDOW_SECONDS: '600',
  RATE_LIMIT_TOKEN_CREATIONS_PER_HOUR: '3',
  RATE_LIMIT_WRITES_PER_MINUTE: '1000',
};

function expectRateLimited(
  response: { status: number; headers: Record<string, string>; body: unknown },
  limit: string,
) {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
  expect(response.body).toEqual({
    error: {
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/^Too many .*at most \d+ in /),
      details: expect.objectContaining({ limit, retryAfterSeconds: retryAfter }),
    },
  });
}

describe('rate limits', () => {
  describe('sign-in', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi('rate-limits-login', small);
    });
    afterAll(async () => {
      await api.close();
    });

    it('after 5 wrong passwords the right one is refused too, with Retry-After; other accounts still sign in', async () => {
      const user = await makeUser(api.app.get(DataSource), { roles: ['researcher'] });
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const response = await api.http.post('/v1/auth/login').send({ email: user.email, password: 'wrong' });
        statuses.push(response.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401]);
      // The account's address is counted as the login use case matches it: case and spaces do not reset it.
      const blocked = await api.http
        .post('/v1/auth/login')
        .send({ email: ` ${user.email.toUpperCase()} `, password: user.password });
      expectRateLimited(blocked, 'login-account');
      const right = await api.http
        .post('/v1/auth/login')
        .send({ email: user.email, password: user.password });
      expectRateLimited(right, 'login-account');
      await api.http
        .post('/v1/auth/login')
        .send({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
        .expect(200);
    });

    it('counts per account across API replicas (shared Redis)', async () => {
      const replica = await startApi('rate-limits-replica', {
        ...small,
        QUEUE_PREFIX: api.config.QUEUE_PREFIX,
      });
      try {
        const email = `nobody-${randomBytes(4).toString('hex')}@test.gpupool.kr`;
        for (let attempt = 0; attempt < 3; attempt++)
          await api.http.post('/v1/auth/login').send({ email, password: 'wrong' }).expect(401);
        for (let attempt = 0; attempt < 2; attempt++)
          await replica.http.post('/v1/auth/login').send({ email, password: 'wrong' }).expect(401);
        expectRateLimited(
          await replica.http.post('/v1/auth/login').send({ email, password: 'wrong' }),
          'login-account',
        );
        expectRateLimited(
          await api.http.post('/v1/auth/login').send({ email, password: 'wrong' }),
          'login-account',
        );
      } finally {
        await replica.close();
      }
    });
  });

  describe('sign-in per address', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      // One trusted proxy: the client address comes from X-Forwarded-For.
      api = await startApi('rate-limits-address', {
        ...small,
        RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000',
        RATE_LIMIT_LOGIN_PER_ADDRESS: '4',
        TRUST_PROXY_HOPS: '1',
      });
    });
    afterAll(async () => {
      await api.close();
    });

    it('one address trying many accounts is stopped; another address is not', async () => {
      const from = (address: string, index: number) =>
        api.http
          .post('/v1/auth/login')
          .set('x-forwarded-for', address)
          .send({ email: `guess-${index}@test.gpupool.kr`, password: 'wrong' });
      // The harness's own admin sign-in came from 127.0.0.1, not from these addresses.
      for (let index = 0; index < 4; index++) expect((await from('203.0.113.7', index)).status).toBe(401);
      expectRateLimited(await from('203.0.113.7', 99), 'login-address');
      expect((await from('198.51.100.20', 100)).status).toBe(401);
    });
  });

  describe('API token creation and writes per principal', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi('rate-limits-writes', { ...small, RATE_LIMIT_WRITES_PER_MINUTE: '8' });
    });
    afterAll(async () => {
      await api.close();
    });

    it('refuses the 4th token in an hour and writes nothing for it', async () => {
      const operator = await makeUser(api.app.get(DataSource), { roles: ['operator'] });
      const token = await api.login(operator.email, operator.password);
      for (let index = 0; index < 3; index++) {
        await api.http
          .post('/v1/api-tokens')
          .set(auth(token))
          .send({ name: `agent ${index}`, scopes: ['usage:write'] })
          .expect(201);
      }
      const fourth = await api.http
        .post('/v1/api-tokens')
        .set(auth(token))
        .send({ name: 'agent 3', scopes: ['usage:write'] });
      expectRateLimited(fourth, 'token-creation');
      const listed = await api.http.get('/v1/api-tokens').set(auth(token)).expect(200);
      expect((listed.body as { items: { name: string }[] }).items.map((item) => item.name).sort()).toEqual([
        'agent 0',
        'agent 1',
        'agent 2',
      ]);
    });

    it('limits writes per principal, not reads, not other principals, not agents’ ingest', async () => {
      const dataSource = api.app.get(DataSource);
      const first = await makeUser(dataSource, { roles: ['admin'] });
      const second = await makeUser(dataSource, { roles: ['admin'] });
      const firstToken = await api.login(first.email, first.password);
      const secondToken = await api.login(second.email, second.password);
      // Refused writes count too: the limit runs before validation.
      const write = (token: string) => api.http.post('/v1/organizations').set(auth(token)).send({ name: '' });
      for (let index = 0; index < 8; index++) expect((await write(firstToken)).status).toBe(400);
      expectRateLimited(await write(firstToken), 'writes');
      await api.http.get('/v1/me').set(auth(firstToken)).expect(200);
      expect((await write(secondToken)).status).toBe(400);

      const agent = await api.http
        .post('/v1/api-tokens')
        .set(auth(secondToken))
        .send({ name: 'meter', scopes: ['usage:write'] })
        .expect(201);
      const meter = (agent.body as { token: string }).token;
      const ingest = await Promise.all(
        Array.from({ length: 12 }, () =>
          api.http.post('/v1/usage/records').set(auth(meter)).send({ records: 'not a list' }),
        ),
      );
      expect(ingest.map((response) => response.status)).toEqual(Array.from({ length: 12 }, () => 400));
    });
  });

  describe('when Redis cannot be reached', () => {
    let api: ApiHarness;
    let closedPort: Server;
    beforeAll(async () => {
      // A port that was just free: nothing listens on it.
      closedPort = createServer();
      await new Promise<void>((resolve) => closedPort.listen(0, '127.0.0.1', resolve));
      const address = closedPort.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      await new Promise<void>((resolve) => closedPort.close(() => resolve()));
      api = await startApi('rate-limits-no-redis', { ...small, REDIS_URL: `redis://127.0.0.1:${port}` });
    });
    afterAll(async () => {
      await api.close();
    });

    it('still signs people in, counting in memory per process (the insurance limiter)', async () => {
      // The harness signed the admin in once already.
      for (let attempt = 0; attempt < 4; attempt++)
        await api.http
          .post('/v1/auth/login')
          .send({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
          .expect(200);
      expectRateLimited(
        await api.http.post('/v1/auth/login').send({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
        'login-account',
      );
    });
  });
});
