import { makeProgramRules, makeRequestLine } from '../../test/factories.js';
import { gpuHoursToSeconds } from '../units/gpu-seconds.js';
import { checkEligibility, type EligibilityInput } from './eligibility.js';

const HOUR = 3600n;

function makeInput(overrides: Partial<EligibilityInput> = {}): EligibilityInput {
  const program = makeProgramRules();
  return {
    program,
    organizationType: 'university',
    window: { startsAt: new Date('2026-04-01T00:00:00Z'), endsAt: new Date('2026-09-30T00:00:00Z') },
    lines: [makeRequestLine()],
    budgetLeftGpuSeconds: { ...program.budgetsGpuSeconds },
    now: new Date('2026-03-15T09:00:00Z'),
    ...overrides,
  };
}

function rules(input: EligibilityInput): string[] {
  return checkEligibility(input).map((violation) => violation.rule);
}

describe('checkEligibility', () => {
  it('finds nothing wrong with a request that fits', () => {
    expect(checkEligibility(makeInput())).toEqual([]);
  });

  it('rejects organization types the program does not admit', () => {
    const [violation] = checkEligibility(makeInput({ organizationType: 'enterprise' }));
    expect(violation).toEqual({
      rule: 'ORGANIZATION_TYPE_NOT_ELIGIBLE',
      field: 'organizationType',
      message: expect.stringContaining('not to enterprises') as unknown,
    });
  });

  it.each([
    ['before the program opens', '2026-02-28T23:59:59Z', true],
    ['at the opening instant', '2026-03-01T00:00:00Z', false],
    ['just before closing', '2026-12-31T14:59:59.999Z', false],
    ['at the closing instant', '2026-12-31T15:00:00Z', true],
  ])('application window: %s', (_name, now, outside) => {
    expect(rules(makeInput({ now: new Date(now) })).includes('OUTSIDE_APPLICATION_WINDOW')).toBe(outside);
  });

  it('requires the request window to lie within the program window', () => {
    const window = { startsAt: new Date('2026-11-01T00:00:00Z'), endsAt: new Date('2027-02-01T00:00:00Z') };
    expect(rules(makeInput({ window }))).toEqual(['REQUEST_WINDOW_OUTSIDE_PROGRAM']);
  });

  it('requires the request window to end after it starts', () => {
    const instant = new Date('2026-05-01T00:00:00Z');
    expect(rules(makeInput({ window: { startsAt: instant, endsAt: instant } }))).toEqual([
      'REQUEST_WINDOW_INVALID',
    ]);
  });

  it('requires at least one line', () => {
    expect(rules(makeInput({ lines: [] }))).toEqual(['NO_LINES']);
  });

  it('names the line of a GPU model the program does not offer, and lists what it offers', () => {
    const [violation] = checkEligibility(
      makeInput({ lines: [makeRequestLine(), makeRequestLine({ gpuModel: 'B200' })] }),
    );
    expect(violation?.rule).toBe('GPU_MODEL_NOT_IN_PROGRAM');
    expect(violation?.field).toBe('lines[1].gpuModel');
    expect(violation?.message).toContain('H100, H200');
  });

  it.each([
    [1, true],
    [4, true],
    [5, false],
    [8, true],
    [12, false],
    [64, true],
    [72, false],
    [0, false],
  ])('%p concurrent GPUs fits a track: %p', (gpus, fits) => {
    const violations = checkEligibility(makeInput({ lines: [makeRequestLine({ maxConcurrentGpus: gpus })] }));
    const noTrack = violations.filter((violation) => violation.rule === 'NO_TRACK_FITS');
    expect(noTrack).toHaveLength(fits ? 0 : 1);
    if (!fits) expect(noTrack[0]?.field).toBe('lines[0].maxConcurrentGpus');
  });

  it('says how much budget is left in GPU-hours', () => {
    const lines = [makeRequestLine({ gpuModel: 'H200', gpuSeconds: gpuHoursToSeconds(1200n) })];
    expect(checkEligibility(makeInput({ lines }))).toEqual([
      {
        rule: 'EXCEEDS_PROGRAM_BUDGET',
        field: 'lines[0].gpuSeconds',
        message:
          'Requested 1,200 GPU-hours of H200 but program AI-COMPUTE-2026-1 has 800 GPU-hours left; ask for at most that.',
      },
    ]);
  });

  it('allows asking for exactly the budget left, and treats a model missing from budget-left as exhausted', () => {
    const exact = [makeRequestLine({ gpuModel: 'H200', gpuSeconds: 800n * HOUR })];
    expect(checkEligibility(makeInput({ lines: exact }))).toEqual([]);
    expect(rules(makeInput({ lines: exact, budgetLeftGpuSeconds: {} }))).toEqual(['EXCEEDS_PROGRAM_BUDGET']);
  });

  it('sums duplicate lines of one model against its budget and flags the duplicate', () => {
    const lines = [
      makeRequestLine({ gpuModel: 'H200', gpuSeconds: 500n * HOUR }),
      makeRequestLine({ gpuModel: 'H200', gpuSeconds: 500n * HOUR }),
    ];
    const violations = checkEligibility(makeInput({ lines }));
    expect(violations.map((violation) => [violation.rule, violation.field])).toEqual([
      ['DUPLICATE_GPU_MODEL', 'lines[1].gpuModel'],
      ['EXCEEDS_PROGRAM_BUDGET', 'lines[0].gpuSeconds'],
    ]);
    expect(violations[1]?.message).toContain('Requested 1,000 GPU-hours');
  });

  it('reports every failed rule at once', () => {
    const input = makeInput({
      organizationType: 'enterprise',
      now: new Date('2027-01-05T00:00:00Z'),
      window: { startsAt: new Date('2027-02-01T00:00:00Z'), endsAt: new Date('2027-01-01T00:00:00Z') },
      lines: [
        makeRequestLine({ gpuModel: 'B200', maxConcurrentGpus: 6 }),
        makeRequestLine({ gpuModel: 'H200', gpuSeconds: 900n * HOUR }),
        makeRequestLine({ gpuModel: 'H200', gpuSeconds: 0n }),
      ],
    });
    expect(rules(input)).toEqual([
      'ORGANIZATION_TYPE_NOT_ELIGIBLE',
      'OUTSIDE_APPLICATION_WINDOW',
      'REQUEST_WINDOW_INVALID',
      'REQUEST_WINDOW_OUTSIDE_PROGRAM',
      'GPU_MODEL_NOT_IN_PROGRAM',
      'NO_TRACK_FITS',
      'DUPLICATE_GPU_MODEL',
      'GPU_SECONDS_NOT_POSITIVE',
      'EXCEEDS_PROGRAM_BUDGET',
    ]);
  });
});
