// Drops this run's template database (test files drop their own clones), and kills what this run's
// tests spawned and left running (a scheduler, an API, a throwaway Redis of a test that failed or timed
// out before its teardown): they inherited GPUPOOL_TEST_TEMPLATE, which names this run alone.
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

function killLeftovers(template) {
  const marker = `GPUPOOL_TEST_TEMPLATE=${template}`;
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (!/dist\/apps\/\w+\/src\/main\.js|redis-server/.test(command)) continue;
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker)) continue;
      process.kill(pid, 'SIGKILL');
      killed += 1;
    } catch {
      // Gone already, or not ours to read.
    }
  }
  if (killed > 0) console.warn(`[test] killed ${killed} process(es) a test left running`);
}

export default async function globalTeardown() {
  const template = process.env.GPUPOOL_TEST_TEMPLATE;
  if (!template) return;
  if (process.platform === 'linux') killLeftovers(template);
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
