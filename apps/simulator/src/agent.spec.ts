import { UnrecoverableError } from 'bullmq';
import { parseConfig } from '../../../libs/config/src/index.js';
import { SimulatedClusterAgent } from './agent.js';

const WORKLOAD = '6b1f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d';
const OTHER = '0b0a7f3e-2c4d-4e5f-8a9b-1c2d3e4f5a6b';

interface Call {
  url: string;
  method: string;
  authorization: string | null;
  body: Record<string, unknown> | null;
}

/** A fetch that records every call and answers from a script (default 200), with no network at all. */
function fakeFetch(
  answer: (call: Call, index: number) => Response | Error = () => json(200, { applied: true }),
) {
  const calls: Call[] = [];
  const impl = ((input: URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const call: Call = {
      url: input.toString(),
      method: init?.method ?? 'GET',
      authorization: headers.get('authorization'),
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : null,
    };
    calls.push(call);
    const result = answer(call, calls.length - 1);
    return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
  }) as unknown as typeof fetch;
  return { calls, impl };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SimulatedClusterAgent', () => {
  const config = parseConfig({
    LOG_LEVEL: 'silent',
    SIMULATOR_API_URL: 'http://127.0.0.1:9',
    SIMULATOR_API_TOKEN: 'gpp_test-token',
  });
  const agents: SimulatedClusterAgent[] = [];
  const agent = (fetchImpl: typeof fetch, timeScale = 1000) => {
    const created = new SimulatedClusterAgent(config, fetchImpl, {
      timeScale,
      retry: { baseDelayMs: 1, maxDelayMs: 4, maxAttempts: 5 },
    });
    agents.push(created);
    return created;
  };
  const run = (workloadId: string, attempt: number, runtimeSeconds: number) => ({
    name: 'cluster.run',
    data: { workloadId, attempt, gpus: 8, runtimeSeconds },
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
  });

  it('reports the API up when /health/live answers 200', async () => {
    const { calls, impl } = fakeFetch(() => json(200, { status: 'ok' }));
    await expect(agent(impl).checkApi()).resolves.toBe(true);
    expect(calls.map((call) => call.url)).toEqual(['http://127.0.0.1:9/health/live']);
  });

  it('reports the API down when the request fails', async () => {
    const { impl } = fakeFetch(() => new Error('ECONNREFUSED'));
    await expect(agent(impl).checkApi()).resolves.toBe(false);
  });

  it('acknowledges a run at once, reports started, then ended after runtime / time scale', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 1000); // 40 simulated seconds → 40 ms
    const begun = Date.now();
    await simulator.process(run(WORKLOAD, 0, 40));
    expect(simulator.inFlight).toBe(1);
    await until(() => calls.length === 2);
    expect(Date.now() - begun).toBeGreaterThanOrEqual(35);
    expect(calls[0]).toMatchObject({
      url: `http://127.0.0.1:9/v1/agent/workloads/${WORKLOAD}/events`,
      method: 'POST',
      authorization: 'Bearer gpp_test-token',
      body: { type: 'started', attempt: 0, at: expect.any(String) },
    });
    expect(calls[1]?.body).toEqual({
      type: 'ended',
      attempt: 0,
      at: expect.any(String),
      outcome: 'succeeded',
      runtimeSeconds: 40,
    });
    await until(() => simulator.inFlight === 0);
  });

  it('meters the attempt through POST /v1/usage/records before reporting its end', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 1000);
    const allocationId = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';
    await simulator.process({
      name: 'cluster.run',
      data: { workloadId: WORKLOAD, attempt: 2, gpus: 8, runtimeSeconds: 40, allocationId, gpuModel: 'H200' },
    });
    await until(() => calls.length === 3);
    expect(calls.map((call) => call.url)).toEqual([
      `http://127.0.0.1:9/v1/agent/workloads/${WORKLOAD}/events`,
      'http://127.0.0.1:9/v1/usage/records',
      `http://127.0.0.1:9/v1/agent/workloads/${WORKLOAD}/events`,
    ]);
    const started = calls[0].body as { at: string };
    const records = (calls[1].body as { records: Record<string, unknown>[] }).records;
    // The simulated runtime from the reported start: 8 GPUs × 40 s; the attempt is its identity.
    expect(records).toEqual([
      {
        source: 'gpupool-simulator',
        externalId: `${WORKLOAD}:2`,
        allocationId,
        workloadId: WORKLOAD,
        attempt: 2,
        gpuModel: 'H200',
        gpus: 8,
        startedAt: started.at,
        endedAt: new Date(new Date(started.at).getTime() + 40_000).toISOString(),
      },
    ]);
    expect(calls[2]?.body).toMatchObject({ type: 'ended', attempt: 2, runtimeSeconds: 40 });
    await until(() => simulator.inFlight === 0);
  });

  it('stops an attempt gpupool no longer wants (a stop lost in transit), and never reports its end', async () => {
    const { calls, impl } = fakeFetch(() =>
      json(200, { applied: false, reason: 'stale_attempt', stop: true }),
    );
    const simulator = agent(impl, 1000); // 40 simulated seconds → 40 ms
    await simulator.process(run(WORKLOAD, 0, 40));
    await until(() => simulator.inFlight === 0);
    await pause(80);
    expect(calls.map((call) => call.body?.type)).toEqual(['started']);
  });

  it('retries reports with backoff on network errors and 5xx, and only then goes on', async () => {
    const { calls, impl } = fakeFetch((_call, index) =>
      index === 0 ? new Error('ECONNRESET') : index === 1 ? json(503, {}) : json(200, { applied: true }),
    );
    const simulator = agent(impl);
    await simulator.process(run(WORKLOAD, 0, 0));
    await until(() => calls.length === 4);
    expect(calls.map((call) => call.body?.type)).toEqual(['started', 'started', 'started', 'ended']);
  });

  it('does not retry a refusal that repeating cannot fix (404)', async () => {
    const { calls, impl } = fakeFetch(() => json(404, { error: { code: 'NOT_FOUND' } }));
    const simulator = agent(impl);
    await simulator.process(run(WORKLOAD, 0, 1));
    await until(() => calls.length === 2);
    await pause(20);
    expect(calls.map((call) => call.body?.type)).toEqual(['started', 'ended']);
  });

  it('gives up after maxAttempts when the API stays down', async () => {
    const { calls, impl } = fakeFetch(() => new Error('ECONNREFUSED'));
    const simulator = agent(impl, 1);
    await simulator.process(run(WORKLOAD, 0, 3600));
    await until(() => calls.length === 5);
    await pause(30);
    expect(calls).toHaveLength(5);
  });

  it('cluster.cancel clears the timer: no end is reported', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 1000);
    await simulator.process(run(WORKLOAD, 2, 30));
    await simulator.process({ name: 'cluster.cancel', data: { workloadId: WORKLOAD, attempt: 1 } });
    expect(simulator.inFlight).toBe(1); // another attempt's cancel changes nothing
    await simulator.process({ name: 'cluster.cancel', data: { workloadId: WORKLOAD, attempt: 2 } });
    expect(simulator.inFlight).toBe(0);
    await pause(60);
    expect(calls.map((call) => call.body?.type)).toEqual(['started']);
  });

  it('meters a cancelled attempt for the time it ran, as a cluster’s accounting does', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 100_000);
    const allocationId = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';
    await simulator.process({
      name: 'cluster.run',
      data: {
        workloadId: WORKLOAD,
        attempt: 1,
        gpus: 4,
        runtimeSeconds: 10_000_000,
        allocationId,
        gpuModel: 'H200',
      },
    });
    await until(() => calls.length === 1);
    const startedAt = new Date((calls[0].body as { at: string }).at).getTime();
    // At 100,000× a millisecond of real time is 100 simulated seconds: let at least one pass.
    await until(() => Date.now() - startedAt >= 2);
    await simulator.process({ name: 'cluster.cancel', data: { workloadId: WORKLOAD, attempt: 1 } });
    await until(() => calls.length === 2);
    expect(calls[1].url).toBe('http://127.0.0.1:9/v1/usage/records');
    const [record] = (calls[1].body as { records: { startedAt: string; endedAt: string; gpus: number }[] })
      .records;
    const ranMs = new Date(record?.endedAt ?? '').getTime() - new Date(record?.startedAt ?? '').getTime();
    expect(record).toMatchObject({ externalId: `${WORKLOAD}:1`, attempt: 1, gpus: 4 });
    expect(ranMs).toBeGreaterThanOrEqual(200_000);
    expect(ranMs).toBeLessThan(10_000_000_000);
    expect(simulator.inFlight).toBe(0);
  });

  it('heartbeats: resyncs first, lists its runs, and stops the ones gpupool no longer wants', async () => {
    const { calls, impl } = fakeFetch((call) =>
      call.url.endsWith('/heartbeats')
        ? json(200, { stop: [{ workloadId: WORKLOAD, attempt: 0 }], lost: [] })
        : json(200, { applied: true }),
    );
    const simulator = agent(impl, 1);
    await simulator.process(run(WORKLOAD, 0, 3600));
    await simulator.process(run(OTHER, 3, 3600));
    await expect(simulator.heartbeat()).resolves.toBe(true);
    const beats = () => calls.filter((call) => call.url.endsWith('/v1/agent/heartbeats'));
    expect(beats()[0]?.body).toMatchObject({
      adapter: 'simulator',
      resync: true,
      agent: 'gpupool-simulator',
      runs: [
        { workloadId: WORKLOAD, attempt: 0 },
        { workloadId: OTHER, attempt: 3 },
      ],
    });
    // The unwanted run is gone; the next heartbeat is a routine one.
    expect(simulator.inFlight).toBe(1);
    await simulator.heartbeat();
    expect(beats()[1]?.body).toMatchObject({ resync: false, runs: [{ workloadId: OTHER, attempt: 3 }] });
  });

  it('keeps its heartbeat a resync until gpupool accepts one', async () => {
    let down = true;
    const { calls, impl } = fakeFetch(() =>
      down ? new Error('ECONNREFUSED') : json(200, { stop: [], lost: [] }),
    );
    const simulator = agent(impl);
    await expect(simulator.heartbeat()).resolves.toBe(false);
    down = false;
    await expect(simulator.heartbeat()).resolves.toBe(true);
    await simulator.heartbeat();
    expect(calls.map((call) => call.body?.resync)).toEqual([true, true, true, true, true, true, false]);
  });

  it('ignores a redelivered run of the same attempt; a newer attempt replaces the old one', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 1000);
    await simulator.process(run(WORKLOAD, 0, 20));
    await simulator.process(run(WORKLOAD, 0, 20));
    await simulator.process(run(WORKLOAD, 1, 20));
    await simulator.process(run(OTHER, 0, 20));
    expect(simulator.inFlight).toBe(2);
    await until(() => calls.filter((call) => call.body?.type === 'ended').length === 2);
    await pause(40);
    const summary = calls.map(
      (call) =>
        `${call.url.includes(WORKLOAD) ? 'w' : 'o'}:${String(call.body?.type)}:${String(call.body?.attempt)}`,
    );
    expect(summary.filter((entry) => entry.endsWith('ended:0') && entry.startsWith('w'))).toEqual([]);
    expect(summary).toEqual(
      expect.arrayContaining(['w:started:0', 'w:started:1', 'w:ended:1', 'o:started:0', 'o:ended:0']),
    );
    expect(summary).toHaveLength(5);
  });

  it('keeps a run longer than the 24.8-day timer limit waiting instead of ending it at once', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 1);
    await simulator.process(run(WORKLOAD, 0, 30 * 86_400)); // 2.6e9 ms: above setTimeout's limit
    await pause(30);
    expect(calls.map((call) => call.body?.type)).toEqual(['started']);
    expect(simulator.inFlight).toBe(1);
  });

  it('refuses a job that breaks the contract without retries', async () => {
    const { impl } = fakeFetch();
    const simulator = agent(impl);
    await expect(
      simulator.process({ name: 'cluster.run', data: { workloadId: 'nope' } }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(
      simulator.process({ name: 'schedule.cycle', data: { gpuModel: 'H200' } }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
  });

  it('drops its runs on stop and reports nothing more', async () => {
    const { calls, impl } = fakeFetch();
    const simulator = agent(impl, 1000);
    await simulator.process(run(WORKLOAD, 0, 30));
    await simulator.stop();
    expect(simulator.inFlight).toBe(0);
    await pause(60);
    expect(calls.filter((call) => call.body?.type === 'ended')).toEqual([]);
    await expect(simulator.process(run(OTHER, 0, 1))).rejects.toThrow(/stopping/);
  });
});
