import { maxPlaceableGpusOf } from './placement-limits.js';
import { submissionViolations, type SubmissionFacts } from './submission-rules.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const HOUR = 3600;

function facts(overrides: Partial<SubmissionFacts> = {}): SubmissionFacts {
  return {
    now: NOW,
    request: { gpuModel: 'H200', gpus: 8, walltimeSeconds: 2 * HOUR },
    allocation: {
      id: 'a-1',
      gpuModel: 'H200',
      maxConcurrentGpus: 64,
      startsAt: new Date('2026-05-01T00:00:00Z'),
      endsAt: new Date('2026-07-01T00:00:00Z'),
      status: 'active',
    },
    remainingGpuSeconds: 1000n * 3600n,
    pool: {
      gpusPerNode: 8,
      domains: [
        { domain: 'ib-a', wholeNodes: 6, largestNodeGpus: 8 },
        { domain: 'ib-b', wholeNodes: 2, largestNodeGpus: 8 },
      ],
    },
    ...overrides,
  };
}

const rules = (input: SubmissionFacts) => submissionViolations(input).map((violation) => violation.rule);

describe('submissionViolations', () => {
  it('accepts a submission that breaks nothing', () => {
    expect(submissionViolations(facts())).toEqual([]);
  });

  it('accepts exactly the quota left and exactly the time left', () => {
    const input = facts({ request: { gpuModel: 'H200', gpus: 8, walltimeSeconds: 30 * 24 * HOUR } });
    input.allocation.endsAt = new Date(NOW.getTime() + 30 * 24 * HOUR * 1000);
    input.remainingGpuSeconds = 8n * 30n * 24n * 3600n;
    expect(rules(input)).toEqual([]);
    input.remainingGpuSeconds -= 1n;
    expect(rules(input)).toEqual(['INSUFFICIENT_QUOTA']);
  });

  it('counts quota in exact bigint GPU-seconds and reports an overdraft as nothing left', () => {
    const [violation] = submissionViolations(facts({ remainingGpuSeconds: -5000n }));
    expect(violation).toMatchObject({ rule: 'INSUFFICIENT_QUOTA', field: 'walltimeSeconds' });
    expect(violation?.message).toContain('16 GPU-hours (8 GPUs × 2 h)');
    expect(violation?.message).toContain('has 0 GPU-hours left');
  });

  it('places single-node work on any node big enough and gangs on whole nodes of one domain', () => {
    const at = (gpus: number) => rules(facts({ request: { gpuModel: 'H200', gpus, walltimeSeconds: HOUR } }));
    expect(at(3)).toEqual([]);
    expect(at(48)).toEqual([]);
    expect(at(12)).toEqual(['NO_PLACEMENT_POSSIBLE']);
    expect(at(56)).toEqual(['NO_PLACEMENT_POSSIBLE']); // 64 GPUs exist, but 48 in the largest domain
  });

  it('says there is nothing to place on when the model has no servers in service', () => {
    const [violation] = submissionViolations(facts({ pool: { gpusPerNode: null, domains: [] } }));
    expect(violation).toMatchObject({ rule: 'NO_PLACEMENT_POSSIBLE', field: 'gpuModel' });
  });

  it('lists every broken rule in a fixed order', () => {
    expect(
      rules(
        facts({
          now: new Date('2026-04-01T00:00:00Z'),
          request: { gpuModel: 'B200', gpus: 12, walltimeSeconds: 100 * 24 * HOUR },
          allocation: { ...facts().allocation, maxConcurrentGpus: 8 },
          remainingGpuSeconds: 0n,
          pool: { gpusPerNode: 8, domains: [] },
        }),
      ),
    ).toEqual([
      'ALLOCATION_NOT_ACTIVE',
      'GPU_MODEL_NOT_IN_ALLOCATION',
      'EXCEEDS_CONCURRENCY_CAP',
      'NO_PLACEMENT_POSSIBLE',
      'WALLTIME_BEYOND_WINDOW',
      'INSUFFICIENT_QUOTA',
    ]);
  });

  it('refuses an allocation that is not active, or has ended', () => {
    expect(rules(facts({ allocation: { ...facts().allocation, status: 'exhausted' } }))).toEqual([
      'ALLOCATION_NOT_ACTIVE',
    ]);
    const ended = submissionViolations(facts({ now: new Date('2026-08-01T00:00:00Z') }));
    expect(ended.map((violation) => violation.rule)).toEqual(['WALLTIME_BEYOND_WINDOW']);
    expect(ended[0]?.message).toContain('ended');
  });
});

describe('maxPlaceableGpusOf', () => {
  it('is the larger of one node (capped at gpusPerNode) and the whole nodes of the best domain', () => {
    expect(maxPlaceableGpusOf([], 8)).toBe(0);
    expect(maxPlaceableGpusOf([{ domain: 'x', wholeNodes: 0, largestNodeGpus: 4 }], 8)).toBe(4);
    expect(maxPlaceableGpusOf([{ domain: 'x', wholeNodes: 1, largestNodeGpus: 16 }], 8)).toBe(8);
    expect(
      maxPlaceableGpusOf(
        [
          { domain: 'x', wholeNodes: 3, largestNodeGpus: 8 },
          { domain: 'y', wholeNodes: 5, largestNodeGpus: 8 },
        ],
        8,
      ),
    ).toBe(40);
  });
});
