// Drops this run's template database (test files drop their own clones).
import pg from 'pg';

export default async function globalTeardown() {
  const template = process.env.GPUPOOL_TEST_TEMPLATE;
  if (!template) return;
  const client = new pg.Client({
    connectionString: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
