import { spawnSync } from 'node:child_process';
import { SignJWT } from 'jose';
import { startApi, type ApiHarness } from '../support/api-harness.js';

/** Issue 13: the old default secret was public, so anyone could sign an admin token offline. */
const OLD_PUBLIC_DEFAULT = 'gpupool-development-secret-change-me-in-production';

async function forge(secret: string, sub: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer('gpupool')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

describe('access-token secrets', () => {
  let api: ApiHarness;
  let adminId: string;
  beforeAll(async () => {
    api = await startApi('auth-secrets');
    const me = await api.http.get('/v1/me').set('authorization', `Bearer ${api.adminToken}`).expect(200);
    adminId = (me.body as { id: string }).id;
  });
  afterAll(async () => {
    await api.close();
  });

  it('rejects an admin token forged with the old public default secret', async () => {
    const forged = await forge(OLD_PUBLIC_DEFAULT, adminId);
    const response = await api.http.get('/v1/me').set('authorization', `Bearer ${forged}`);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: expect.objectContaining({ code: expect.any(String) }) });
  });

  it('accepts a token signed with the configured secret', async () => {
    const own = await forge(api.config.JWT_SECRET ?? '', adminId);
    await api.http.get('/v1/me').set('authorization', `Bearer ${own}`).expect(200);
  });

  it.each([
    ['missing', undefined, /JWT_SECRET is required when NODE_ENV=production/],
    ['short', 'too-short-secret', /JWT_SECRET must be at least 32 bytes/],
    ['published sample', OLD_PUBLIC_DEFAULT, /JWT_SECRET is a published sample value/],
  ])('the built API refuses to start in production with a %s secret', (_label, secret, message) => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: api.databaseUrl,
      PORT: '0',
      LOG_LEVEL: 'silent',
    };
    if (secret === undefined) delete env.JWT_SECRET;
    else env.JWT_SECRET = secret;
    const run = spawnSync(process.execPath, ['dist/apps/api/src/main.js'], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
  });
});
