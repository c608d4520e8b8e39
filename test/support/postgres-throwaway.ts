import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, waitFor } from './processes.js';

const run = promisify(execFile);

/** The newest PostgreSQL server binaries installed from Debian's packages (or PG_BIN). */
function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return join(root, versions[0], 'bin');
}

export interface ThrowawayPostgres {
  port: number;
  dataDir: string;
  /** URL of a database on this cluster. */
  url(database: string): string;
  /** `pg_ctl restart -m <mode>` (immediate = a crash: recovery replays the WAL on start). */
  restart(mode?: 'fast' | 'immediate'): Promise<{ downMs: number }>;
  /** The server log, for a failure message. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the test's own (initdb into a temp dir, a free port, its socket in that
 * dir), so a test may restart or crash it without touching the shared server on 5432. PostgreSQL
 * refuses to run as root: as root, every server command runs as the `postgres` user (runuser).
 * fsync is off (a restart or kill of the server keeps everything committed; only an OS crash would
 * not), synchronous_commit stays on: an acknowledged commit is in the WAL.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = postgresBin();
  const dir = await mkdtemp(join(tmpdir(), 'gpupool-pg-'));
  const dataDir = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    await chown(dir, uid, gid);
  }
  const pgRun = (command: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { timeout: 120_000 })
      : run(join(bin, command), args, { timeout: 120_000 });
  await pgRun('initdb', [
    '-D',
    dataDir,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const port = await freePort();
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    [
      '',
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'max_connections = 100',
      'shared_buffers = 128MB',
      'fsync = off',
      'full_page_writes = off',
      "log_min_messages = 'warning'",
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'server.log');
  const pgCtl = (args: string[]) =>
    pgRun('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', ...args]);
  await pgCtl(['start']);
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const ready = async () => {
    const client = new pg.Client({ connectionString: url('postgres') });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  await waitFor('the throwaway PostgreSQL', ready, 60_000);
  return {
    port,
    dataDir,
    url,
    restart: async (mode = 'fast') => {
      const started = Date.now();
      await pgCtl(['-m', mode, 'restart']);
      await waitFor('the throwaway PostgreSQL after its restart', ready, 60_000);
      return { downMs: Date.now() - started };
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    stop: async () => {
      await pgCtl(['-m', 'immediate', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a database on a throwaway cluster and runs gpupool's migrations on it (the built CLI). */
export async function createMigratedDatabase(server: ThrowawayPostgres, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = server.url(name);
  await run(process.execPath, ['dist/libs/persistence/src/cli/migrate.js'], {
    env: { ...process.env, NODE_OPTIONS: '', DATABASE_URL: url, LOG_LEVEL: 'warn' },
    timeout: 120_000,
  });
  return url;
}
