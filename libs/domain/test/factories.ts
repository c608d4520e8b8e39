import type { ProgramRules } from '../src/programs/program.js';
import type { RequestLine } from '../src/requests/request-line.js';

const HOUR = 3600n;

/** A valid 2026 call: 1–4 GPU track and whole 8-GPU servers up to 64 GPUs; H100 and H200 budgets. */
export function makeProgramRules(overrides: Partial<ProgramRules> = {}): ProgramRules {
  return {
    code: 'AI-COMPUTE-2026-1',
    fiscalYear: 2026,
    startsAt: new Date('2026-03-01T00:00:00Z'),
    endsAt: new Date('2026-12-31T15:00:00Z'),
    eligibleOrganizationTypes: ['university', 'research_institute', 'startup', 'youth_startup', 'sme'],
    tracks: [
      { code: 'small', kind: 'gpu', minGpus: 1, maxGpus: 4 },
      { code: 'server', kind: 'server', minGpus: 8, maxGpus: 64, gpusPerServer: 8 },
    ],
    rubric: [
      { key: 'impact', label: 'Expected impact', weight: 3, maxScore: 10 },
      { key: 'feasibility', label: 'Feasibility', weight: 2, maxScore: 5 },
    ],
    sectorTargets: { national: 50, industry: 30, academia: 20 },
    subsidyRates: { sme: 7000, youth_startup: 8000, university: 10000 },
    budgetsGpuSeconds: { H100: 1_000_000n * HOUR, H200: 800n * HOUR },
    ...overrides,
  };
}

export function makeRequestLine(overrides: Partial<RequestLine> = {}): RequestLine {
  return { gpuModel: 'H100', kind: 'budget', gpuSeconds: 100n * HOUR, maxConcurrentGpus: 4, ...overrides };
}

/** Runs `action` and returns what it threw, failing the test if it did not throw. */
export function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned');
}
