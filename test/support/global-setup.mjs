// Once per Jest run: a freshly migrated template database that each test file clones.
// Plain ESM (Jest loads global setup outside its module mapper): it drives the built migrate CLI.
// Each run has a template of its own (its name reaches the test workers through the environment),
// so two runs at once never drop each other's databases; leftovers of killed runs are dropped
// once they are an hour old (the creation time is part of every test database's name).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import pg from 'pg';

const STALE_AFTER_SECONDS = 3600;

export default async function globalSetup() {
  const admin = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!existsSync('dist/libs/persistence/src/cli/migrate.js') || process.env.GPUPOOL_TEST_BUILD !== '0') {
    execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  }
  const now = Math.floor(Date.now() / 1000);
  const template = `gpupool_tpl_${now}_${process.pid}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    const existing = await client.query(
      "SELECT datname FROM pg_database WHERE datname LIKE 'gpupool\\_t\\_%' OR datname LIKE 'gpupool\\_tpl\\_%'",
    );
    for (const { datname } of existing.rows) {
      const created = Number(/_(\d{10})_/.exec(datname)?.[1] ?? 0);
      if (now - created > STALE_AFTER_SECONDS)
        await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await client.query(`CREATE DATABASE "${template}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${template}`;
  execFileSync('node', ['dist/libs/persistence/src/cli/migrate.js'], {
    env: { ...process.env, DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.env.GPUPOOL_TEST_TEMPLATE = template;
}
