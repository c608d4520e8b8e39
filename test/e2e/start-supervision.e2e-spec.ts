import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { createTestDatabase } from '../support/database.js';
import { freePort, reapOnExit, waitFor } from '../support/processes.js';

/**
 * Issue 13 item 10, black-box: the real `npm start` launcher (deploy/start.mjs, on the built dist/)
 * on a spare port and a throwaway database. A kill -9 of a child is followed by a logged restart;
 * a SIGTERM — to the launcher, or to a shell in front of it as `npm start` has — takes the whole
 * stack down within 10 s: no child left, nothing listening on the API port.
 */
const STACK_DOWN_WITHIN_MS = 10_000;

interface Launcher {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
  /** Waits for an output line matching the pattern; returns its match. */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Every pid the launcher logged as "<name> started (pid N)", in order. */
  startedPids(name?: string): number[];
}

function startLauncher(command: string[], env: NodeJS.ProcessEnv): Launcher {
  const child = reapOnExit(spawn(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => output.push(line));
  }
  const find = (pattern: RegExp) => {
    for (const line of output) {
      const match = pattern.exec(line);
      if (match) return match;
    }
    return undefined;
  };
  return {
    process: child,
    exited,
    output,
    line: (pattern, timeoutMs = 60_000) =>
      waitFor(
        `a launcher line matching ${pattern}`,
        () => {
          const match = find(pattern);
          if (!match && child.exitCode !== null) throw new Error(`the launcher exited ${child.exitCode}`);
          return Promise.resolve(match);
        },
        timeoutMs,
      ),
    startedPids: (name = '\\w+') =>
      output.flatMap((line) => {
        const match = new RegExp(`^\\[start\\] ${name} started \\(pid (\\d+)\\)`).exec(line);
        return match ? [Number(match[1])] : [];
      }),
  };
}

/** State and parent pid of a process (/proc/<pid>/stat fields 3 and 4), undefined once it is gone. */
function procStat(pid: number): { state: string; parent: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/** Running: exists and is not a zombie waiting for its parent to reap it. */
function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function parentOf(pid: number): number | undefined {
  return procStat(pid)?.parent;
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/** What a TCP connect to the port on loopback gets: 'connected' or the error code. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function healthStatus(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/health/live`, { signal: AbortSignal.timeout(5000) });
  return response.status;
}

/**
 * Sends the signal, then waits (up to STACK_DOWN_WITHIN_MS from the signal) until the supervisor and
 * every child it started are gone; returns how the signalled process ended and how long it all took.
 */
async function signalAndWaitDown(
  launcher: Launcher,
  target: number,
  supervisor: number,
  signal: NodeJS.Signals,
) {
  const started = Date.now();
  process.kill(target, signal);
  const pids = [supervisor, ...launcher.startedPids()];
  await waitFor(
    'the supervisor and its children to exit',
    () => Promise.resolve(pids.every((pid) => !alive(pid))),
    STACK_DOWN_WITHIN_MS,
  );
  const elapsedMs = Date.now() - started;
  return { outcome: await launcher.exited, elapsedMs };
}

describe('npm start supervision (deploy/start.mjs)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const launchers: Launcher[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('start_supervision');
  });
  afterAll(async () => {
    for (const launcher of launchers) {
      for (const pid of [launcher.process.pid!, ...launcher.startedPids()])
        if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await database.drop();
  });

  async function launch(
    front: 'node' | 'shell',
  ): Promise<{ launcher: Launcher; supervisor: number; port: number }> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_OPTIONS: '',
      DATABASE_URL: database.url,
      QUEUE_BACKEND: 'postgres', // no Redis: everything this stack touches is in its own database
      PORT: String(port),
      JWT_SECRET: randomBytes(48).toString('base64url'),
      SIMULATOR_DEMO_RATE_PER_MINUTE: '0',
      LOG_LEVEL: 'warn',
      NO_COLOR: '1',
    };
    delete env.REDIS_URL;
    delete env.NODE_ENV;
    const node = [process.execPath, 'deploy/start.mjs'];
    // `npm start` runs `sh -c "bash deploy/start.sh"`; dash does not exec its last command, so a
    // shell stays in front of the launcher and is what npm signals.
    const command = front === 'node' ? node : ['sh', '-c', `${node.join(' ')}; exit $?`];
    const launcher = startLauncher(command, env);
    launchers.push(launcher);
    await launcher.line(/^\[start\] gpupool is up/);
    const supervisor = front === 'node' ? launcher.process.pid! : childrenOf(launcher.process.pid!)[0];
    expect(await healthStatus(port)).toBe(200);
    return { launcher, supervisor, port };
  }

  async function expectStackDown(launcher: Launcher, supervisor: number, port: number) {
    expect([supervisor, ...launcher.startedPids()].filter(alive)).toEqual([]);
    expect(await connectOutcome(port)).toBe('ECONNREFUSED');
  }

  it('restarts a kill -9ed scheduler, then a SIGTERM stops everything within 10 s', async () => {
    const { launcher, supervisor, port } = await launch('node');
    const [api] = launcher.startedPids('api');
    const [scheduler] = launcher.startedPids('scheduler');
    expect(parentOf(scheduler)).toBe(supervisor);

    // The API is probed throughout the scheduler's crash and restart.
    const probes: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) probes.push(await healthStatus(port).catch(() => 0));
    })();
    process.kill(scheduler, 'SIGKILL');
    await launcher.line(
      new RegExp(
        `^\\[start\\] scheduler \\(pid ${scheduler}\\) exited unexpectedly \\(signal SIGKILL\\); restarting it in 1 s`,
      ),
    );
    const restarted = await waitFor('the restarted scheduler', () =>
      Promise.resolve(launcher.startedPids('scheduler').find((pid) => pid !== scheduler)),
    );
    probing = false;
    await prober;

    expect(alive(scheduler)).toBe(false);
    expect(alive(restarted)).toBe(true);
    expect(parentOf(restarted)).toBe(supervisor);
    expect(alive(api)).toBe(true);
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.filter((status) => status !== 200)).toEqual([]);
    expect(await healthStatus(port)).toBe(200);

    const { outcome, elapsedMs } = await signalAndWaitDown(launcher, supervisor, supervisor, 'SIGTERM');
    expect(outcome).toEqual({ code: 0, signal: null });
    expect(elapsedMs).toBeLessThan(STACK_DOWN_WITHIN_MS);
    expect(launcher.output).toContain('[start] stopped (exit 0)');
    await expectStackDown(launcher, supervisor, port);
  });

  it('a SIGTERM to a shell in front of the launcher (as npm start has) stops everything within 10 s', async () => {
    const { launcher, supervisor, port } = await launch('shell');
    expect(supervisor).not.toBe(launcher.process.pid);
    expect(parentOf(launcher.startedPids('api')[0])).toBe(supervisor);

    const shell = launcher.process.pid!;
    const { outcome, elapsedMs } = await signalAndWaitDown(launcher, shell, supervisor, 'SIGTERM');
    expect(outcome).toEqual({ code: null, signal: 'SIGTERM' }); // the shell dies of it, passing nothing on
    expect(elapsedMs).toBeLessThan(STACK_DOWN_WITHIN_MS);
    await expectStackDown(launcher, supervisor, port);
  });
});
