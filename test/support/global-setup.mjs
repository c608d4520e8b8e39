// Once per Jest run: a freshly migrated template database that each test file clones.
// Plain ESM (Jest loads global setup outside its module mapper): it drives the built migrate CLI.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import pg from 'pg';

const TEMPLATE = 'gpupool_test_template';

export default async function globalSetup() {
  const admin = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!existsSync('dist/libs/persistence/src/cli/migrate.js') || process.env.GPUPOOL_TEST_BUILD !== '0') {
    execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  }
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    const stale = await client.query("SELECT datname FROM pg_database WHERE datname LIKE 'gpupool\\_t\\_%'");
    for (const row of stale.rows) await client.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
    await client.query(`DROP DATABASE IF EXISTS "${TEMPLATE}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${TEMPLATE}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${TEMPLATE}`;
  execFileSync('node', ['dist/libs/persistence/src/cli/migrate.js'], {
    env: { ...process.env, DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
