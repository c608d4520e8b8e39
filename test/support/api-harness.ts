import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { configFrom, type GpupoolConfig } from '../../libs/config/src/index.js';
import { createApiApp } from '../../apps/api/src/bootstrap.js';
import { createTestDatabase } from './database.js';
import { bootstrapAdmin } from '../../apps/api/src/cli/bootstrap-admin.js';

export interface ApiHarness {
  app: NestExpressApplication;
  http: TestAgent;
  config: GpupoolConfig;
  databaseUrl: string;
  /** Bearer token of the bootstrap admin. */
  adminToken: string;
  login(email: string, password: string): Promise<string>;
  close(): Promise<void>;
}

export const ADMIN_EMAIL = 'admin@test.gpupool.kr';
export const ADMIN_PASSWORD = 'admin-password-1';

/**
 * The full API over HTTP on a database of its own (cloned from the migrated template) and a queue
 * prefix of its own, so test files never see each other's rows or jobs.
 */
export async function startApi(label: string, overrides: Record<string, string> = {}): Promise<ApiHarness> {
  const database = await createTestDatabase(label);
  const config = configFrom({
    DATABASE_URL: database.url,
    QUEUE_PREFIX: `t${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    GPUPOOL_ADMIN_EMAIL: ADMIN_EMAIL,
    GPUPOOL_ADMIN_PASSWORD: ADMIN_PASSWORD,
    DATABASE_POOL_SIZE: '5',
    // Test receivers listen on loopback; the SSRF tests turn this off.
    WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true',
    // Each harness signs with a secret of its own, as a deployment must (there is no default).
    JWT_SECRET: randomBytes(32).toString('base64url'),
    // Limits stay on (counted in Redis under the harness's prefix) but far above what a test file
    // sends from one address; test/e2e/rate-limits.e2e-spec.ts sets small ones.
    RATE_LIMIT_LOGIN_PER_ACCOUNT: '100000',
    RATE_LIMIT_LOGIN_PER_ADDRESS: '100000',
    RATE_LIMIT_TOKEN_CREATIONS_PER_HOUR: '100000',
    RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
    ...overrides,
  });
  await bootstrapAdmin(config);
  const app = await createApiApp(config, { logs: process.env.TEST_LOG_LEVEL !== undefined });
  const http = request(app.getHttpServer());
  const login = async (email: string, password: string): Promise<string> => {
    const response = await http.post('/v1/auth/login').send({ email, password });
    if (response.status !== 200)
      throw new Error(`login of ${email} failed: ${response.status} ${JSON.stringify(response.body)}`);
    return (response.body as { accessToken: string }).accessToken;
  };
  const adminToken = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  return {
    app,
    http,
    config,
    databaseUrl: database.url,
    adminToken,
    login,
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}
