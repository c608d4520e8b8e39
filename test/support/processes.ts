import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const children = new Set<ChildProcess>();
let reaping = false;

/**
 * Kills the child when this test process exits, whatever ends it (a failed or timed-out test skips
 * its teardown): a scheduler, API or Redis left behind keeps loading the machine for the next runs.
 */
export function reapOnExit(child: ChildProcess): ChildProcess {
  if (!reaping) {
    reaping = true;
    process.once('exit', () => {
      for (const running of children) if (running.exitCode === null) running.kill('SIGKILL');
    });
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `Timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}

/**
 * A throwaway redis-server of this test's own on a free port, so flushing or killing it never
 * touches the shared Redis on 6379.
 */
export async function startThrowawayRedis(): Promise<{
  url: string;
  process: ChildProcess;
  stop: () => Promise<void>;
}> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  reapOnExit(child);
  const { Redis } = await import('ioredis');
  const client = new Redis(`redis://127.0.0.1:${port}`, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  await waitFor('throwaway redis', async () => {
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      client.disconnect();
      return false;
    }
  });
  client.disconnect();
  return {
    url: `redis://127.0.0.1:${port}`,
    process: child,
    stop: () => stopProcess(child),
  };
}

export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Starts the built scheduler (dist/) as a child process with the given environment. */
export function startSchedulerProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['dist/apps/scheduler/src/main.js'], {
    env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', process.env.TEST_LOG_LEVEL ? 'inherit' : 'ignore'],
  });
  return reapOnExit(child);
}

/** Starts the built simulated cluster agent (dist/) as a child process with the given environment. */
export function startSimulatorProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['dist/apps/simulator/src/main.js'], {
    env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', process.env.TEST_LOG_LEVEL ? 'inherit' : 'ignore'],
  });
  return reapOnExit(child);
}

/**
 * Waits until `remaining()` reaches 0, failing only when it has not gone down for `stallMs`: a bound
 * on a hung system, not on a slow one. A fixed amount of work takes as long as a busy machine makes
 * it take; a wall-clock deadline on all of it is a race with the machine's load.
 */
export async function waitForProgress(
  what: string,
  remaining: () => Promise<number>,
  stallMs: number,
): Promise<void> {
  let best = Number.POSITIVE_INFINITY;
  let progressAt = Date.now();
  for (;;) {
    const left = await remaining();
    if (left === 0) return;
    if (left < best) {
      best = left;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > stallMs) {
      throw new Error(`No progress waiting for ${what}: ${left} left, none done in the last ${stallMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
