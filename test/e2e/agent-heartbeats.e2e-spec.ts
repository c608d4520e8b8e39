import type { ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import {
  FORGOTTEN_RUN_REASON,
  UNCONFIRMED_RUN_REASON,
} from '../../libs/application/src/workloads/end-lost-runs.use-case.js';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { ensureSimulatorToken } from '../../apps/api/src/cli/agent-token.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';
import { startSchedulerProcess, startSimulatorProcess, stopProcess, waitFor } from '../support/processes.js';
import { poolFacts, seedPool, seedQuotas, submitWorkloads } from '../factories/pool-fixtures.js';

const TIMEOUT_MS = 5_000;
const GRANTED_GPU_HOURS = 100_000n;
/** A 48-hour walltime: without heartbeats a lost run held its GPUs this long, plus 5 minutes. */
const WALLTIME_SECONDS = 48 * 3600;

interface RunRow {
  id: string;
  state: string;
  end_reason: string | null;
  started: boolean;
  confirmed_at: Date | null;
  hold_remaining: string | null;
  release_after: Date | null;
  refund_reason: string | null;
}

/**
 * Phantom runs (issue 13 item 7), black box: the API (in process, listening), the scheduler and the
 * simulated cluster agent (processes from dist/) on one database and queue prefix. The agent is
 * killed with SIGKILL while it runs 48-hour workloads; gpupool must notice from its heartbeats
 * alone and give the GPUs and the quota back at once, not 48 hours later.
 */
describe('cluster agent heartbeats end phantom runs', () => {
  let api: ApiHarness;
  let dataSource: DataSource;
  let agentToken: string;
  let scheduler: ChildProcess | undefined;
  let processEnv: Record<string, string>;
  const agents: ChildProcess[] = [];
  /** Each workload's queuedAt as submitted: a requeue must keep it (its age in the queue). */
  const queuedAt = new Map<string, Date>();

  beforeAll(async () => {
    api = await startApi('agent_heartbeats', {
      AGENT_HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS),
      AGENT_HEARTBEAT_INTERVAL_MS: '1000',
    });
    await api.app.listen(0, '127.0.0.1');
    const { port } = api.app.getHttpServer().address() as AddressInfo;
    dataSource = createDataSource({ url: api.databaseUrl, poolSize: 3, applicationName: 'heartbeat-test' });
    await dataSource.initialize();
    agentToken = await ensureSimulatorToken(api.config);
    processEnv = {
      DATABASE_URL: api.databaseUrl,
      REDIS_URL: api.config.REDIS_URL,
      QUEUE_BACKEND: api.config.QUEUE_BACKEND,
      QUEUE_PREFIX: api.config.QUEUE_PREFIX,
      DATABASE_POOL_SIZE: '4',
      RECONCILE_INTERVAL_MS: '500',
      AGENT_HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS),
      AGENT_HEARTBEAT_INTERVAL_MS: '1000',
      SIMULATOR_API_URL: `http://127.0.0.1:${port}`,
      SIMULATOR_API_TOKEN: agentToken,
      SIMULATOR_TIME_SCALE: '1',
    };
    scheduler = startSchedulerProcess(processEnv);
  });

  afterAll(async () => {
    await Promise.all([...agents, ...(scheduler ? [scheduler] : [])].map((child) => stopProcess(child)));
    await dataSource?.destroy();
    await api?.close();
  });

  function startAgent(): ChildProcess {
    const agent = startSimulatorProcess(processEnv);
    agents.push(agent);
    return agent;
  }

  function kill9(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async function runs(ids: string[]): Promise<RunRow[]> {
    return dataSource.query<RunRow[]>(
      `SELECT w.id, w.state, w.end_reason, w.started_at IS NOT NULL AS started, rc.confirmed_at,
              h.remaining_gpu_seconds::text AS hold_remaining, h.release_after, h.refund_reason
         FROM workloads w
         LEFT JOIN run_confirmations rc ON rc.workload_id = w.id AND rc.attempt = w.attempt
         LEFT JOIN workload_holds h ON h.workload_id = w.id AND h.attempt = w.attempt
        WHERE w.id = ANY($1) ORDER BY w.id`,
      [ids],
    );
  }

  /** A pool, a quota and `count` 48-hour workloads of 2 GPUs, all started and confirmed by the agent. */
  async function runningWorkloads(gpuModel: string, count: number) {
    await seedPool(dataSource, { gpuModel, nodes: 4, gpusPerNode: 8, domains: 1 });
    const [quota] = await seedQuotas(dataSource, gpuModel, [
      { grantedGpuHours: GRANTED_GPU_HOURS, maxConcurrentGpus: 64 },
    ]);
    if (!quota) throw new Error('no quota');
    const ids = await submitWorkloads(
      dataSource,
      gpuModel,
      Array.from({ length: count }, (_, index) => ({
        quota,
        gpus: 2,
        walltimeSeconds: WALLTIME_SECONDS,
        simulatedRuntimeSeconds: WALLTIME_SECONDS,
        name: `long-${index}`,
      })),
    );
    const submitted = await dataSource.query<{ id: string; queued_at: Date }[]>(
      `SELECT id, queued_at FROM workloads WHERE id = ANY($1)`,
      [ids],
    );
    for (const row of submitted) queuedAt.set(row.id, row.queued_at);
    await waitFor(
      'every workload started and confirmed by a heartbeat',
      async () => (await runs(ids)).every((row) => row.state === 'running' && row.confirmed_at !== null),
      60_000,
    );
    return { ids, quota };
  }

  /** Each workload's first attempt: whether it ended, its hold, and whether the workload kept its age. */
  async function firstAttempts(ids: string[]) {
    return dataSource.query<
      {
        ended: boolean;
        remaining: string;
        release_after: Date | null;
        refund_reason: string | null;
        queued_at_kept: boolean;
      }[]
    >(
      `SELECT h.ended_at IS NOT NULL AS ended, h.remaining_gpu_seconds::text AS remaining, h.release_after,
              h.refund_reason, w.queued_at = s.queued_at AS queued_at_kept
         FROM workloads w JOIN workload_holds h ON h.workload_id = w.id AND h.attempt = 0
         JOIN unnest($1::uuid[], $2::timestamptz[]) AS s(id, queued_at) ON s.id = w.id
        ORDER BY w.id`,
      [ids, ids.map((id) => queuedAt.get(id))],
    );
  }

  async function holdAndAllocation(allocationId: string) {
    const [row] = await dataSource.query<{ hold: string; allocation: string }[]>(
      `SELECT coalesce(sum(amount) FILTER (WHERE account = 'hold:' || $1), 0)::text AS hold,
              coalesce(sum(amount) FILTER (WHERE account = 'allocation:' || $1), 0)::text AS allocation
         FROM ledger_entries WHERE account IN ('hold:' || $1, 'allocation:' || $1)`,
      [allocationId],
    );
    return row;
  }

  it('an agent killed with SIGKILL: its runs are lost once the heartbeat timeout passes, requeued with their age up to the limit, holds released at once', async () => {
    const agent = startAgent();
    const { ids, quota } = await runningWorkloads('H200', 15);
    // While the agent lives, its heartbeats keep the runs alive past the timeout.
    const since = Date.now();
    await waitFor(
      'heartbeats confirming the runs for longer than the timeout',
      async () => {
        const rows = await runs(ids);
        return (
          rows.every((row) => row.state === 'running') &&
          rows.every((row) => (row.confirmed_at?.getTime() ?? 0) > since + TIMEOUT_MS)
        );
      },
      60_000,
    );
    expect((await runs(ids)).every((row) => row.state === 'running')).toBe(true);

    await kill9(agent);
    const killedAt = Date.now();
    await waitFor(
      'the runs of the killed agent to be requeued',
      async () => (await firstAttempts(ids)).every((row) => row.ended),
      60_000,
    );
    const endedAfterMs = Date.now() - killedAt;
    // The lost attempt is refunded and its whole hold released at once; the workload keeps its age.
    for (const row of await firstAttempts(ids)) {
      expect(row).toMatchObject({
        remaining: '0',
        release_after: null,
        refund_reason: UNCONFIRMED_RUN_REASON,
        queued_at_kept: true,
      });
    }
    // Not before the timeout: each attempt ended at least TIMEOUT_MS after its last confirmation
    // (both on the database's clock, so a busy machine cannot make this race).
    const [timing] = await dataSource.query<{ confirmed: number; early: number }[]>(
      `SELECT count(*)::int AS confirmed,
              count(*) FILTER (WHERE h.ended_at < rc.confirmed_at + $2::int * interval '1 millisecond')::int AS early
         FROM workload_holds h JOIN run_confirmations rc
           ON rc.workload_id = h.workload_id AND rc.attempt = h.attempt
        WHERE h.workload_id = ANY($1) AND h.attempt = 0`,
      [ids, TIMEOUT_MS],
    );
    expect(timing).toEqual({ confirmed: ids.length, early: 0 });
    const history = await api.http
      .get(`/v1/workloads/${ids[0]}/attempts`)
      .set('authorization', `Bearer ${api.adminToken}`);
    expect(history.status).toBe(200);
    expect((history.body as { items: unknown[] }).items[0]).toMatchObject({
      attempt: 0,
      outcome: 'requeued',
      reason: UNCONFIRMED_RUN_REASON,
      refunded: true,
      stillHeld: { gpuSeconds: '0' },
    });

    // No agent runs them again: each new attempt is lost too, until the program's limit (3) fails them.
    await waitFor(
      'the requeued runs to fail at the requeue limit',
      async () => (await runs(ids)).every((row) => row.state === 'failed'),
      90_000,
    );
    const failedAfterMs = Date.now() - killedAt;
    const [requeues] = await dataSource.query<{ min: number; max: number; reasons: string[] }[]>(
      `SELECT min(infrastructure_requeues)::int AS min, max(infrastructure_requeues)::int AS max,
              array_agg(DISTINCT end_reason) AS reasons
         FROM workloads WHERE id = ANY($1)`,
      [ids],
    );
    expect(requeues).toEqual({
      min: 3,
      max: 3,
      reasons: [`${UNCONFIRMED_RUN_REASON} (not requeued: already requeued 3 times, the program's limit)`],
    });
    process.stdout.write(
      `[agent-heartbeats] 15 runs of a SIGKILLed agent: attempt 0 ended ${endedAfterMs} ms after the kill ` +
        `(timeout ${TIMEOUT_MS} ms; walltime ${WALLTIME_SECONDS} s); requeued 3 times, failed ${failedAfterMs} ms after it\n`,
    );
    // Nothing held, nothing charged: the GPUs and quota are back.
    const ledger = await holdAndAllocation(quota.allocationId);
    expect(ledger?.hold).toBe('0');
    expect(ledger?.allocation).toBe(String(GRANTED_GPU_HOURS * 3600n));
    expect(await poolFacts(dataSource, 'H200')).toMatchObject({
      allocated: 0,
      mismatched: 0,
      stray_placements: 0,
      negative_holds: 0,
    });
  });

  it('a restarted agent resyncs: the runs it lost end at once as forgotten and are requeued, without waiting for the timeout', async () => {
    const agent = startAgent();
    const { ids, quota } = await runningWorkloads('B200', 6);
    // No scheduler: no sweep can end them by timeout; only the new agent's resync can.
    if (scheduler) await stopProcess(scheduler);
    scheduler = undefined;
    await kill9(agent);
    startAgent();
    await waitFor(
      'the resync of the new agent to end the runs the old one had',
      async () => (await firstAttempts(ids)).every((row) => row.ended),
      60_000,
    );
    // Requeued with their age (no scheduler runs them again here), the lost attempt refunded and released.
    for (const row of await firstAttempts(ids)) {
      expect(row).toMatchObject({
        remaining: '0',
        release_after: null,
        refund_reason: FORGOTTEN_RUN_REASON,
        queued_at_kept: true,
      });
    }
    expect((await runs(ids)).map((row) => row.state)).toEqual(ids.map(() => 'queued'));
    const ledger = await holdAndAllocation(quota.allocationId);
    expect(ledger?.hold).toBe('0');
    expect(await poolFacts(dataSource, 'B200')).toMatchObject({
      allocated: 0,
      mismatched: 0,
      stray_placements: 0,
    });
  });

  it('refuses what an agent must not send: user tokens, unknown clusters, malformed lists', async () => {
    const send = (body: unknown, token = agentToken) =>
      api.http
        .post('/v1/agent/heartbeats')
        .set('authorization', `Bearer ${token}`)
        .send(body as object);
    const user = await send({ adapter: 'simulator', runs: [] }, api.adminToken);
    expect(user.status).toBe(403);
    const unknown = await send({ clusterIds: ['00000000-0000-4000-8000-000000000000'], runs: [] });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: 'CLUSTER_NOT_FOUND' } });
    for (const body of [
      { runs: [] },
      { adapter: 'simulator', clusterIds: ['00000000-0000-4000-8000-000000000000'], runs: [] },
      { adapter: 'simulator', runs: [{ workloadId: 'nope', attempt: 0 }] },
      { adapter: 'simulator', runs: [{ workloadId: '00000000-0000-4000-8000-000000000000', attempt: 1e30 }] },
      {
        adapter: 'simulator',
        runs: Array.from({ length: 20_001 }, () => ({
          workloadId: '00000000-0000-4000-8000-000000000000',
          attempt: 0,
        })),
      },
      { adapter: 'simulator', runs: [], resync: 'yes' },
    ]) {
      const answer = await send(body);
      expect({
        status: answer.status,
        code: (answer.body as { error?: { code?: string } }).error?.code,
      }).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
      });
    }
    // A run gpupool does not know comes back as one to stop; nothing is written for it.
    const stray = await send({
      adapter: 'simulator',
      runs: [{ workloadId: '00000000-0000-4000-8000-000000000000', attempt: 0 }],
    });
    expect(stray.status).toBe(200);
    expect(stray.body).toMatchObject({
      confirmed: 0,
      stop: [{ workloadId: '00000000-0000-4000-8000-000000000000', attempt: 0 }],
      lost: [],
      timeoutSeconds: 5,
    });
  });
});
