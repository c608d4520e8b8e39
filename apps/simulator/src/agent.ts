import { UnrecoverableError, type Job } from 'bullmq';
import pino, { type Logger } from 'pino';
import type { GpupoolConfig } from '#config';
import { parseJob, QueueTransport, queueFor, type JobData, type JobItem } from '#queues';

/** setTimeout fires at once for delays above 2^31 − 1 ms (~24.8 days): longer waits are chained. */
const MAX_TIMER_MS = 2_147_483_647;

export interface RetryPolicy {
  /** First wait after a failed report; doubles each time up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Then the report is dropped and the scheduler's reconciler finds the attempt from PostgreSQL. */
  maxAttempts: number;
}

export interface SimulatorOptions {
  /** Simulated seconds per real second (default: config SIMULATOR_TIME_SCALE). */
  timeScale?: number;
  retry?: Partial<RetryPolicy>;
  /** HTTP timeout of one report. */
  requestTimeoutMs?: number;
}

/** The worker's view of the queue, so tests can run the agent without one. */
interface WorkerHandle {
  close(): Promise<void>;
}

interface Run {
  workloadId: string;
  attempt: number;
  /** For the usage record (absent on jobs queued before these fields existed: no record then). */
  allocationId?: string;
  gpuModel?: string;
  gpus: number;
  /** Simulated seconds it runs for. */
  runtimeSeconds: number;
  /** When the start was reported: the usage record's startedAt. */
  startedAt: Date;
  timer: { clear(): void };
  /** Aborts the run's pending reports (cancel, a newer attempt, shutdown). */
  abort: AbortController;
  /** Settles when the start report is done (or given up): the end report goes after it. */
  started: Promise<void>;
}

type WorkloadEvent =
  | { type: 'started'; attempt: number; at: string }
  | { type: 'ended'; attempt: number; at: string; outcome: 'succeeded'; runtimeSeconds: number };

const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 12 };

/**
 * The simulated cluster agent (digital twin). It takes `cluster.run` jobs from the `cluster-simulator`
 * queue, reports the start at once, runs the attempt for runtimeSeconds / SIMULATOR_TIME_SCALE real
 * seconds and reports the end — through the same HTTP API and API token (scope `agent`) a real
 * cluster agent uses. A run job is acknowledged as soon as its timer is set, so no BullMQ lock is
 * held for the runtime; runs live in memory. Every AGENT_HEARTBEAT_INTERVAL_MS it lists them to
 * POST /v1/agent/heartbeats (gpupool declares a run nobody confirms lost); its first heartbeat, sent
 * before it takes any run, is a resync, so the runs a restart lost end at once. A cancelled or
 * unwanted run is metered for the time it ran. It also keeps watch on the API's health.
 */
export class SimulatedClusterAgent {
  private readonly logger: Logger;
  private readonly timeScale: number;
  private readonly retry: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly runs = new Map<string, Run>();
  private healthTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeatInFlight = false;
  /** True until gpupool accepted this process's resync heartbeat. */
  private resyncPending = true;
  /** Aborted by stop(): heartbeats and the final meters of stopped runs. */
  private readonly shutdown = new AbortController();
  private readonly startedAt = new Date();
  private apiUp: boolean | undefined;
  private worker?: WorkerHandle;
  private transport?: QueueTransport;
  private stopping = false;

  constructor(
    private readonly config: GpupoolConfig,
    private readonly fetchImpl: typeof fetch = fetch,
    options: SimulatorOptions = {},
  ) {
    this.logger = pino({
      name: 'gpupool-simulator',
      level: config.LOG_LEVEL,
      base: { service: 'gpupool-simulator', pid: process.pid },
    });
    this.timeScale = options.timeScale ?? config.SIMULATOR_TIME_SCALE;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  async start(intervalMs = 15_000): Promise<void> {
    await this.checkApi();
    this.healthTimer = setInterval(() => void this.checkApi(), intervalMs);
    if (this.config.SIMULATOR_API_TOKEN === undefined) {
      // Without a token every report would be refused: leave the jobs queued for an agent that has one.
      this.logger.error(
        'SIMULATOR_API_TOKEN is not set: not taking cluster jobs (npm start creates one; elsewhere run `node dist/apps/api/src/cli/agent-token.js`)',
      );
    } else {
      // Before taking any run: gpupool ends the started runs a previous process had and this one lacks.
      await this.heartbeat();
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.config.AGENT_HEARTBEAT_INTERVAL_MS);
      this.transport = new QueueTransport({
        backend: this.config.QUEUE_BACKEND,
        redisUrl: this.config.REDIS_URL,
        databaseUrl: this.config.DATABASE_URL,
        prefix: this.config.QUEUE_PREFIX,
      });
      const worker = this.transport.createWorker(queueFor('cluster.run'), (job: Job) => this.process(job), {
        concurrency: 16,
        lockDuration: this.config.WORKER_LOCK_DURATION_MS,
        stalledInterval: this.config.WORKER_STALLED_INTERVAL_MS,
      });
      worker.on('failed', (job, error) =>
        this.logger.warn({ jobId: job?.id, name: job?.name, err: error.message }, 'cluster job failed'),
      );
      worker.on('error', (error) => this.logger.error({ err: error.message }, 'worker error'));
      this.worker = worker;
    }
    this.logger.info(
      { api: this.config.SIMULATOR_API_URL, timeScale: this.timeScale, taking: this.worker !== undefined },
      'simulated cluster agent started',
    );
  }

  /**
   * Lists every run this process has to gpupool, which confirms the ones it still wants and answers
   * the ones it does not (`stop`): those are stopped here. The first accepted one is the resync; a
   * resync is retried like a report, a routine heartbeat is not (the next one follows soon).
   * Resolves to whether gpupool accepted it.
   */
  async heartbeat(): Promise<boolean> {
    if (this.heartbeatInFlight || this.stopping) return false;
    this.heartbeatInFlight = true;
    try {
      const resync = this.resyncPending;
      const answer = (await this.post(
        '/v1/agent/heartbeats',
        {
          adapter: 'simulator',
          runs: [...this.runs.values()].map((run) => ({ workloadId: run.workloadId, attempt: run.attempt })),
          resync,
          agentStartedAt: this.startedAt.toISOString(),
          agent: 'gpupool-simulator',
        },
        null,
        resync ? 'resync' : 'heartbeat',
        this.shutdown.signal,
        resync ? this.retry.maxAttempts : 1,
      )) as { stop?: { workloadId: string; attempt: number }[]; lost?: unknown[] } | null;
      if (answer === null) return false;
      if (resync) {
        this.resyncPending = false;
        this.logger.info({ lost: answer.lost?.length ?? 0 }, 'resynced runs with gpupool');
      }
      for (const unwanted of answer.stop ?? []) {
        const run = this.runs.get(unwanted.workloadId);
        if (run?.attempt === unwanted.attempt) this.stopRun(run, 'attempt no longer wanted; stopped');
      }
      return true;
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  /** Logs only when the API's reachability changes, so an idle agent stays quiet. */
  async checkApi(): Promise<boolean> {
    let up: boolean;
    try {
      const response = await this.fetchImpl(new URL('/health/live', this.config.SIMULATOR_API_URL), {
        signal: AbortSignal.timeout(2000),
      });
      up = response.ok;
    } catch {
      up = false;
    }
    if (up !== this.apiUp) {
      this.logger[up ? 'info' : 'warn'](
        { api: this.config.SIMULATOR_API_URL, up },
        up ? 'API reachable' : 'API unreachable',
      );
      this.apiUp = up;
    }
    return up;
  }

  /** One queue job: a payload that breaks the contract will never succeed, so it is not retried. */
  process(job: Pick<Job, 'name' | 'data'>): Promise<void> {
    let item: JobItem;
    try {
      item = parseJob(job.name, job.data);
    } catch (error) {
      return Promise.reject(
        new UnrecoverableError(
          `Invalid job ${job.name}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }
    try {
      this.handle(item);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  handle(item: JobItem): void {
    switch (item.name) {
      case 'cluster.run':
        this.run(item.data);
        return;
      case 'cluster.cancel':
        this.cancel(item.data);
        return;
      case 'grant.allocation':
      case 'reconcile.grants':
      case 'schedule.cycle':
      case 'dispatch.workload':
      case 'dispatch.cancel':
      case 'reconcile.workloads':
      case 'usage.post':
      case 'reconcile.usage':
      case 'webhook.deliver':
      case 'reconcile.webhooks':
      case 'billing.export':
      case 'reconcile.exports':
      case 'billing.close':
      case 'reconcile.closes':
      case 'planning.plan':
      case 'planning.replan':
      case 'reconcile.planning':
        throw new UnrecoverableError(`${item.name} is not a simulated cluster job`);
    }
  }

  /** Attempts running now. */
  get inFlight(): number {
    return this.runs.size;
  }

  /**
   * Starts an attempt: the start report goes out at once, the end report when the scaled runtime
   * is over. A redelivered job for an attempt already running changes nothing; a newer attempt of
   * the same workload replaces an older one.
   */
  private run(data: JobData<'cluster.run'>): void {
    if (this.stopping) throw new Error('the simulator is stopping');
    const current = this.runs.get(data.workloadId);
    if (current) {
      if (current.attempt >= data.attempt) return;
      this.drop(current);
    }
    const abort = new AbortController();
    const startedAt = new Date();
    const started = this.report(
      data.workloadId,
      { type: 'started', attempt: data.attempt, at: startedAt.toISOString() },
      abort.signal,
    ).then((stop) => {
      // gpupool cancelled or preempted this attempt and the stop never reached us: stop it now.
      const run = this.runs.get(data.workloadId);
      if (stop && run?.attempt === data.attempt) this.stopRun(run, 'attempt no longer wanted; stopped');
    });
    const realMs = (data.runtimeSeconds * 1000) / this.timeScale;
    const run: Run = {
      workloadId: data.workloadId,
      attempt: data.attempt,
      allocationId: data.allocationId,
      gpuModel: data.gpuModel,
      gpus: data.gpus,
      runtimeSeconds: data.runtimeSeconds,
      startedAt,
      abort,
      started,
      timer: longTimeout(() => void this.finish(run, data.runtimeSeconds), realMs),
    };
    this.runs.set(data.workloadId, run);
    this.logger.info(
      {
        workloadId: data.workloadId,
        attempt: data.attempt,
        gpus: data.gpus,
        runtimeSeconds: data.runtimeSeconds,
        realMs,
      },
      'run started',
    );
  }

  private cancel(data: JobData<'cluster.cancel'>): void {
    const run = this.runs.get(data.workloadId);
    if (!run || run.attempt !== data.attempt) return;
    this.stopRun(run, 'run cancelled');
  }

  /**
   * Stops a run before its end and meters the (simulated) time it ran, as a real cluster's
   * accounting does for a cancelled job: gpupool kept that part of its hold for this record (or
   * refunds it, when the infrastructure is to blame).
   */
  private stopRun(run: Run, message: string): void {
    this.drop(run);
    const ranSeconds = Math.min(
      run.runtimeSeconds,
      Math.floor(((Date.now() - run.startedAt.getTime()) * this.timeScale) / 1000),
    );
    this.logger.info({ workloadId: run.workloadId, attempt: run.attempt, ranSeconds }, message);
    void this.meter(run, ranSeconds, this.shutdown.signal);
  }

  private async finish(run: Run, runtimeSeconds: number): Promise<void> {
    await run.started;
    if (this.runs.get(run.workloadId) !== run) return;
    // Like a real agent: the run's metered usage first, then its end.
    await this.meter(run, runtimeSeconds);
    await this.report(
      run.workloadId,
      { type: 'ended', attempt: run.attempt, at: now(), outcome: 'succeeded', runtimeSeconds },
      run.abort.signal,
    );
    if (this.runs.get(run.workloadId) === run) this.runs.delete(run.workloadId);
    this.logger.info({ workloadId: run.workloadId, attempt: run.attempt, runtimeSeconds }, 'run ended');
  }

  /**
   * Sends the attempt's usage record to POST /v1/usage/records (scope `usage:write`). The simulated
   * clock runs timeScale times faster than the wall clock, so the record spans the SIMULATED runtime
   * from the real start (the API of an `npm start` deployment accepts records ending that far
   * ahead: USAGE_FUTURE_TOLERANCE_MS). The external id is the attempt, so a re-send counts once.
   */
  private async meter(
    run: Run,
    runtimeSeconds: number,
    signal: AbortSignal = run.abort.signal,
  ): Promise<void> {
    if (!run.allocationId || !run.gpuModel || runtimeSeconds <= 0) return;
    const record = {
      source: 'gpupool-simulator',
      externalId: `${run.workloadId}:${run.attempt}`,
      allocationId: run.allocationId,
      workloadId: run.workloadId,
      attempt: run.attempt,
      gpuModel: run.gpuModel,
      gpus: run.gpus,
      startedAt: run.startedAt.toISOString(),
      endedAt: new Date(run.startedAt.getTime() + runtimeSeconds * 1000).toISOString(),
    };
    await this.post('/v1/usage/records', { records: [record] }, run.workloadId, 'usage', signal);
  }

  private drop(run: Run): void {
    run.timer.clear();
    run.abort.abort();
    this.runs.delete(run.workloadId);
  }

  /**
   * Posts one event, retrying network errors, 5xx, 408 and 429 with exponential backoff. Other
   * refusals (401, 404, 400) will not get better by repeating: they are logged and dropped.
   */
  /** Resolves to true when gpupool answered that this attempt must stop (see the events route). */
  private async report(workloadId: string, event: WorkloadEvent, signal: AbortSignal): Promise<boolean> {
    const answer = await this.post(
      `/v1/agent/workloads/${workloadId}/events`,
      event,
      workloadId,
      event.type,
      signal,
    );
    return (answer as { stop?: unknown } | null)?.stop === true;
  }

  /** POSTs with retries (see `report`); resolves to the answer's JSON, or null when given up or refused. */
  private async post(
    path: string,
    body: unknown,
    workloadId: string | null,
    what: string,
    signal: AbortSignal,
    maxAttempts = this.retry.maxAttempts,
  ): Promise<unknown> {
    const url = new URL(path, this.config.SIMULATOR_API_URL);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (signal.aborted) return null;
      let problem: string;
      try {
        const response = await this.fetchImpl(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${this.config.SIMULATOR_API_TOKEN ?? ''}`,
          },
          body: JSON.stringify(body),
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]),
        });
        if (response.ok) return await response.json().catch((): unknown => ({}));
        const text = await response.text();
        problem = `HTTP ${response.status} ${text.slice(0, 300)}`;
        if (!isRetryable(response.status)) {
          this.logger.error({ workloadId, event: what, problem }, 'report refused; not retrying');
          return null;
        }
      } catch (error) {
        if (signal.aborted) return null;
        problem = error instanceof Error ? error.message : String(error);
      }
      if (attempt === maxAttempts) {
        this.logger.error(
          { workloadId, event: what, attempts: attempt, problem },
          'report failed; giving up (the scheduler reconciler will find the attempt)',
        );
        return null;
      }
      const delay = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
      this.logger.warn(
        { workloadId, event: what, attempt, problem, retryInMs: delay },
        'report failed; retrying',
      );
      await sleep(delay, signal);
    }
    return null;
  }

  /** SIGTERM: take no more jobs, then drop the runs in memory (the reconciler recovers them). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.shutdown.abort();
    await this.worker?.close();
    await this.transport?.close();
    const dropped = this.runs.size;
    for (const run of [...this.runs.values()]) this.drop(run);
    this.logger.info({ droppedRuns: dropped }, 'simulated cluster agent stopped');
  }
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function now(): string {
  return new Date().toISOString();
}

function longTimeout(callback: () => void, ms: number): { clear(): void } {
  let handle: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (remaining: number): void => {
    handle = setTimeout(
      () => {
        if (cleared) return;
        if (remaining > MAX_TIMER_MS) arm(remaining - MAX_TIMER_MS);
        else callback();
      },
      Math.min(remaining, MAX_TIMER_MS),
    );
  };
  arm(Math.max(0, ms));
  return {
    clear: () => {
      cleared = true;
      clearTimeout(handle);
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
