import { parseConfig } from '../../../libs/config/src/index.js';
import { SimulatedClusterAgent } from './agent.js';

describe('SimulatedClusterAgent', () => {
  const config = parseConfig({ LOG_LEVEL: 'silent', SIMULATOR_API_URL: 'http://127.0.0.1:9' });

  it('reports the API up when /health/live answers 200', async () => {
    const calls: string[] = [];
    const fakeFetch = ((input: URL) => {
      calls.push(input.toString());
      return Promise.resolve(new Response('{"status":"ok"}', { status: 200 }));
    }) as unknown as typeof fetch;
    await expect(new SimulatedClusterAgent(config, fakeFetch).checkApi()).resolves.toBe(true);
    expect(calls).toEqual(['http://127.0.0.1:9/health/live']);
  });

  it('reports the API down when the request fails', async () => {
    const failing = (() => Promise.reject(new Error('ECONNREFUSED'))) as unknown as typeof fetch;
    await expect(new SimulatedClusterAgent(config, failing).checkApi()).resolves.toBe(false);
  });
});
