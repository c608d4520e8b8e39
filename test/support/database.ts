import pg from 'pg';
import { randomBytes } from 'node:crypto';

/** This Jest run's migrated template (see global-setup.mjs). */
function templateDatabase(): string {
  const template = process.env.GPUPOOL_TEST_TEMPLATE;
  if (!template)
    throw new Error(
      'GPUPOOL_TEST_TEMPLATE is not set: run integration and e2e tests through their Jest configs',
    );
  return template;
}

export function adminUrl(): string {
  return process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A database of its own for one test file, cloned from the migrated template (fast: no migrations
 * per test). Returns its URL and a function that drops it.
 */
export async function createTestDatabase(
  label: string,
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  // The creation time is in the name: another run's global setup drops only databases over an hour old.
  const name = `gpupool_t_${Math.floor(Date.now() / 1000)}_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}" TEMPLATE "${templateDatabase()}"`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
