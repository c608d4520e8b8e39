import {
  reservedGrantProblems,
  reservedLineAmounts,
  reservedLineProblems,
  type PoolShape,
} from './reserved-line.js';
import { requestSector, sectorForOrganizationType } from './sector.js';

const DAY = 86_400_000;
const start = new Date('2026-05-01T00:00:00Z');
const window = { startsAt: start, endsAt: new Date(start.getTime() + 30 * DAY) };
const pool: PoolShape = {
  gpuModel: 'H200',
  nodes: 100,
  gpusPerNode: 8,
  largestCluster: 64,
  largestDomain: 32,
};
const line = (overrides: Partial<Parameters<typeof reservedLineProblems>[0]> = {}) => ({
  gpuModel: 'H200',
  servers: 4,
  window,
  sameInterconnectDomain: false,
  ...overrides,
});

describe('reserved request lines', () => {
  it('are servers × GPUs per node × window seconds, exactly', () => {
    expect(reservedLineAmounts(4, 8, window)).toEqual({
      gpuSeconds: 4n * 8n * 30n * 86_400n,
      maxConcurrentGpus: 32,
      windowSeconds: 30n * 86_400n,
    });
  });

  it('fit the pool and the request window', () => {
    expect(reservedLineProblems(line(), pool, window, 'lines[0]')).toEqual([]);
  });

  it('name what the pool can take', () => {
    const rules = (overrides: Parameters<typeof line>[0], shape = pool) =>
      reservedLineProblems(line(overrides), shape, window, 'lines[0]').map((problem) => problem.rule);
    expect(rules({}, { ...pool, nodes: 0 })).toEqual(['GPU_MODEL_NOT_IN_POOL']);
    expect(rules({ servers: 101 })).toEqual(['MORE_SERVERS_THAN_POOL']);
    expect(rules({ servers: 65 })).toEqual(['MORE_SERVERS_THAN_CLUSTER']);
    expect(rules({ servers: 33, sameInterconnectDomain: true })).toEqual(['MORE_SERVERS_THAN_DOMAIN']);
    expect(rules({ servers: 33 })).toEqual([]);
    const message = reservedLineProblems(line({ servers: 65 }), pool, window, 'lines[0]')[0]?.message;
    expect(message).toContain('ask for at most 64');
  });

  it('need a window of whole seconds inside the request', () => {
    const rules = (startsAt: Date, endsAt: Date) =>
      reservedLineProblems(line({ window: { startsAt, endsAt } }), pool, window, 'lines[0]').map(
        (p) => p.rule,
      );
    expect(rules(start, start)).toEqual(['RESERVED_WINDOW_EMPTY']);
    expect(rules(new Date(start.getTime() - DAY), window.endsAt)).toEqual([
      'RESERVED_WINDOW_OUTSIDE_REQUEST',
    ]);
    expect(rules(new Date(start.getTime() + 500), window.endsAt)).toEqual([
      'RESERVED_WINDOW_NOT_WHOLE_SECONDS',
    ]);
  });

  it('are granted in whole servers, never more than asked', () => {
    expect(reservedGrantProblems('H200', 4, 3, 'lines[0]')).toEqual([]);
    expect(reservedGrantProblems('H200', 4, 5, 'lines[0]').map((p) => p.rule)).toEqual([
      'GRANT_EXCEEDS_REQUEST',
    ]);
    expect(reservedGrantProblems('H200', 4, 0, 'lines[0]').map((p) => p.rule)).toEqual([
      'GRANT_NOT_POSITIVE',
    ]);
  });
});

describe('sectors', () => {
  it('follow the organization type unless the request names one', () => {
    expect(sectorForOrganizationType('university')).toBe('academia');
    expect(sectorForOrganizationType('research_institute')).toBe('national');
    expect(sectorForOrganizationType('public')).toBe('national');
    for (const type of ['startup', 'youth_startup', 'sme', 'enterprise'] as const) {
      expect(sectorForOrganizationType(type)).toBe('industry');
    }
    expect(requestSector('national', 'university')).toBe('national');
    expect(requestSector(null, 'university')).toBe('academia');
    expect(requestSector('bogus', 'sme')).toBe('industry');
  });
});
