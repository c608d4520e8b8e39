import { makeProgramRules, thrownBy } from '../../test/factories.js';
import { DomainError } from '../errors/domain-error.js';
import {
  findTrack,
  programRulesProblems,
  trackAccepts,
  validateProgramRules,
  type Track,
} from './program.js';

function rulesOf(error: unknown): string[] {
  expect(error).toBeInstanceOf(DomainError);
  const { problems } = (error as DomainError).details as { problems: { rule: string }[] };
  return problems.map((problem) => problem.rule);
}

describe('validateProgramRules', () => {
  it('returns valid rules unchanged', () => {
    const rules = makeProgramRules();
    expect(validateProgramRules(rules)).toBe(rules);
  });

  it('reports every problem at once, with fields', () => {
    const error = thrownBy(() =>
      validateProgramRules(
        makeProgramRules({
          endsAt: new Date('2026-01-01T00:00:00Z'),
          tracks: [
            { code: 'a', kind: 'gpu', minGpus: 5, maxGpus: 4 },
            { code: 'a', kind: 'server', minGpus: 8, maxGpus: 20, gpusPerServer: 8 },
          ],
          rubric: [
            { key: 'impact', label: 'Impact', weight: 0, maxScore: 10 },
            { key: 'impact', label: 'Impact again', weight: 1.5, maxScore: 10 },
          ],
          sectorTargets: { national: 50, industry: 30, academia: 30 },
          subsidyRates: { sme: 10001 },
        }),
      ),
    );
    expect((error as DomainError).kind).toBe('invalid');
    expect((error as DomainError).code).toBe('INVALID_PROGRAM_RULES');
    expect(rulesOf(error)).toEqual([
      'PROGRAM_WINDOW_INVALID',
      'TRACK_MIN_ABOVE_MAX',
      'DUPLICATE_TRACK_CODE',
      'TRACK_NOT_WHOLE_SERVERS',
      'RUBRIC_WEIGHT_INVALID',
      'DUPLICATE_RUBRIC_KEY',
      'RUBRIC_WEIGHT_INVALID',
      'SECTOR_TARGETS_NOT_100',
      'SUBSIDY_RATE_INVALID',
    ]);
    expect((error as DomainError).message).toContain('add up to 100%');
  });

  it.each<[string, Partial<Parameters<typeof makeProgramRules>[0]>, string]>([
    ['no tracks', { tracks: [] }, 'NO_TRACKS'],
    ['no rubric', { rubric: [] }, 'NO_RUBRIC'],
    [
      'server track without gpusPerServer',
      { tracks: [{ code: 's', kind: 'server', minGpus: 8, maxGpus: 16 }] },
      'TRACK_GPUS_PER_SERVER_INVALID',
    ],
    [
      'gpu track with gpusPerServer',
      { tracks: [{ code: 'g', kind: 'gpu', minGpus: 1, maxGpus: 4, gpusPerServer: 8 }] },
      'TRACK_GPUS_PER_SERVER_UNEXPECTED',
    ],
    [
      'zero-GPU track',
      { tracks: [{ code: 'g', kind: 'gpu', minGpus: 0, maxGpus: 4 }] },
      'TRACK_MIN_GPUS_INVALID',
    ],
    [
      'fractional max score',
      { rubric: [{ key: 'k', label: 'K', weight: 1, maxScore: 2.5 }] },
      'RUBRIC_MAX_SCORE_INVALID',
    ],
    [
      'negative sector',
      { sectorTargets: { national: 100, industry: -20, academia: 20 } },
      'SECTOR_TARGET_INVALID',
    ],
    ['negative subsidy', { subsidyRates: { startup: -1 } }, 'SUBSIDY_RATE_INVALID'],
    ['no budget', { budgetsGpuSeconds: {} }, 'NO_BUDGET'],
    ['negative budget', { budgetsGpuSeconds: { H100: -1n } }, 'BUDGET_INVALID'],
    ['no eligible types', { eligibleOrganizationTypes: [] }, 'NO_ELIGIBLE_ORGANIZATION_TYPES'],
    ['duplicate eligible type', { eligibleOrganizationTypes: ['sme', 'sme'] }, 'DUPLICATE_ORGANIZATION_TYPE'],
    ['fiscal year', { fiscalYear: 26 }, 'FISCAL_YEAR_INVALID'],
    ['invalid date', { startsAt: new Date('nope') }, 'PROGRAM_WINDOW_INVALID'],
  ])('flags %s', (_name, overrides, rule) => {
    expect(programRulesProblems(makeProgramRules(overrides)).map((p) => p.rule)).toEqual([rule]);
  });

  it('accepts subsidy rates at both bounds', () => {
    expect(programRulesProblems(makeProgramRules({ subsidyRates: { sme: 0, university: 10000 } }))).toEqual(
      [],
    );
  });
});

describe('tracks', () => {
  const gpuTrack: Track = { code: 'small', kind: 'gpu', minGpus: 1, maxGpus: 4 };
  const serverTrack: Track = { code: 'server', kind: 'server', minGpus: 8, maxGpus: 64, gpusPerServer: 8 };

  it.each([
    [gpuTrack, 1, true],
    [gpuTrack, 4, true],
    [gpuTrack, 0, false],
    [gpuTrack, 5, false],
    [gpuTrack, 2.5, false],
    [serverTrack, 8, true],
    [serverTrack, 64, true],
    [serverTrack, 12, false],
    [serverTrack, 72, false],
  ])('%o accepts %p GPUs: %p', (track, gpus, accepted) => {
    expect(trackAccepts(track, gpus)).toBe(accepted);
  });

  it('findTrack picks the first fitting track', () => {
    expect(findTrack([gpuTrack, serverTrack], 16)?.code).toBe('server');
    expect(findTrack([gpuTrack, serverTrack], 6)).toBeUndefined();
  });
});
