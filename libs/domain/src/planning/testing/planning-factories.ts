import type { PlanningNode, ReservationRequest } from '../types.js';

/** Test factories for the planner: defaults that read well, overrides for what a test is about. */

export const DAY = 86_400;

/** `makeNodes('a', 4, { clusterId: 'a', domainSize: 2 })` → a-1…a-4 in domains d1 (a-1, a-2) and d2. */
export function makeNodes(
  prefix: string,
  count: number,
  options: { clusterId?: string; gpuModel?: string; domainSize?: number } = {},
): PlanningNode[] {
  const domainSize = options.domainSize ?? count;
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i + 1}`,
    clusterId: options.clusterId ?? prefix,
    gpuModel: options.gpuModel ?? 'H100',
    gpusPerNode: 8,
    interconnectDomain: `d${Math.floor(i / domainSize) + 1}`,
  }));
}

let lineCounter = 0;

export function makeRequest(overrides: Partial<ReservationRequest> = {}): ReservationRequest {
  lineCounter += 1;
  return {
    lineId: `line-${lineCounter}`,
    programId: 'p1',
    sector: 'national',
    gpuModel: 'H100',
    servers: 1,
    requestedStart: 0,
    durationSeconds: overrides.requestedEnd === undefined ? DAY : undefined,
    sameInterconnectDomain: false,
    orderKey: lineCounter,
    ...overrides,
  };
}
