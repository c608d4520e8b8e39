import pino from 'pino';
import { parseConfig } from '../../../../libs/config/src/index.js';
import { seededRandom, SyntheticLoad, syntheticWorkload } from './synthetic-load.js';

describe('synthetic demo load', () => {
  it('draws Philly-like sizes and durations, the same sequence on every run', () => {
    const draw = () => {
      const random = seededRandom(7);
      return Array.from({ length: 5_000 }, () => syntheticWorkload(random));
    };
    const first = draw();
    expect(draw()).toEqual(first);
    const singleGpu = first.filter((workload) => workload.gpus === 1).length / first.length;
    expect(singleGpu).toBeGreaterThan(0.91);
    expect(singleGpu).toBeLessThan(0.95);
    const durations = first.map((workload) => workload.durationSeconds).sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)] ?? 0;
    expect(median).toBeGreaterThan(1000);
    expect(median).toBeLessThan(1300);
    const malformed = first.filter(
      (workload) =>
        workload.durationSeconds > workload.walltimeSeconds ||
        workload.walltimeSeconds < 60 ||
        ![1, 2, 4, 8, 16, 32].includes(workload.gpus),
    );
    expect(malformed).toEqual([]);
  });

  it('signs in as the demo user, finds the active allocation and submits through the API', async () => {
    const calls: { path: string; body: Record<string, unknown> | null; auth: string | null }[] = [];
    const fakeFetch = ((input: URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      calls.push({
        path: `${input.pathname}${input.search}`,
        body: typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : null,
        auth: headers.get('authorization'),
      });
      const answer = (status: number, body: unknown) =>
        Promise.resolve(new Response(JSON.stringify(body), { status }));
      if (input.pathname === '/v1/auth/login') return answer(200, { accessToken: 'user-token' });
      if (input.pathname === '/v1/allocations')
        return answer(200, { items: [{ id: 'alloc-1', gpuModel: 'H200' }] });
      return answer(202, { id: 'w', state: 'queued' });
    }) as unknown as typeof fetch;
    const config = parseConfig({
      SIMULATOR_API_URL: 'http://127.0.0.1:9',
      SIMULATOR_DEMO_RATE_PER_MINUTE: '60',
    });
    const load = new SyntheticLoad(config, pino({ level: 'silent' }), fakeFetch);
    await load.tick();
    await load.tick();
    expect(load.count).toBe(2);
    expect(calls.map((call) => call.path)).toEqual([
      '/v1/auth/login',
      '/v1/allocations?status=active',
      '/v1/workloads',
      '/v1/workloads',
    ]);
    expect(calls[2]).toMatchObject({
      auth: 'Bearer user-token',
      body: { allocationId: 'alloc-1', gpuModel: 'H200', name: 'demo-sweep-1' },
    });
  });
});
