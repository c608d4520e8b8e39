import fc from 'fast-check';
import { makeRequestLine } from '../../test/factories.js';
import { decideApproval, type RequestedLine } from './approval.js';

const HOUR = 3600n;
const requested: RequestedLine[] = [
  makeRequestLine({ gpuModel: 'H100', gpuSeconds: 1000n * HOUR, maxConcurrentGpus: 4 }),
  makeRequestLine({ gpuModel: 'H200', kind: 'reserved', gpuSeconds: 5000n * HOUR, maxConcurrentGpus: 16 }),
];

describe('decideApproval', () => {
  it('grants everything as asked when no grant is given', () => {
    const decision = decideApproval(requested);
    expect(decision.outcome).toBe('approved');
    expect(decision.lines).toEqual([
      {
        gpuModel: 'H100',
        kind: 'budget',
        requestedGpuSeconds: 1000n * HOUR,
        requestedMaxConcurrentGpus: 4,
        grantedGpuSeconds: 1000n * HOUR,
        grantedMaxConcurrentGpus: 4,
        status: 'full',
      },
      expect.objectContaining({
        gpuModel: 'H200',
        kind: 'reserved',
        grantedGpuSeconds: 5000n * HOUR,
        status: 'full',
      }),
    ]);
  });

  it('is approved when every line is granted in full, in any order', () => {
    const granted = [
      { gpuModel: 'H200', gpuSeconds: 5000n * HOUR, maxConcurrentGpus: 16 },
      { gpuModel: 'H100', gpuSeconds: 1000n * HOUR, maxConcurrentGpus: 4 },
    ];
    expect(decideApproval(requested, granted).outcome).toBe('approved');
  });

  it('is partial when a line is reduced in GPU-time or in concurrency', () => {
    const lessTime = decideApproval(requested, [
      { gpuModel: 'H100', gpuSeconds: 999n * HOUR, maxConcurrentGpus: 4 },
      { gpuModel: 'H200', gpuSeconds: 5000n * HOUR, maxConcurrentGpus: 16 },
    ]);
    expect(lessTime.outcome).toBe('partially_approved');
    expect(lessTime.lines.map((line) => line.status)).toEqual(['reduced', 'full']);

    const lessConcurrency = decideApproval(requested, [
      { gpuModel: 'H100', gpuSeconds: 1000n * HOUR, maxConcurrentGpus: 2 },
      { gpuModel: 'H200', gpuSeconds: 5000n * HOUR, maxConcurrentGpus: 16 },
    ]);
    expect(lessConcurrency.outcome).toBe('partially_approved');
  });

  it('grants 0 to an omitted line and makes the decision partial', () => {
    const decision = decideApproval(requested, [
      { gpuModel: 'H200', gpuSeconds: 5000n * HOUR, maxConcurrentGpus: 16 },
    ]);
    expect(decision.outcome).toBe('partially_approved');
    expect(decision.lines[0]).toMatchObject({
      gpuModel: 'H100',
      grantedGpuSeconds: 0n,
      grantedMaxConcurrentGpus: 0,
      status: 'refused',
    });
  });

  it('refuses to raise a request, listing each excess', () => {
    const grant = () =>
      decideApproval(requested, [
        { gpuModel: 'H100', gpuSeconds: 1001n * HOUR, maxConcurrentGpus: 8 },
        { gpuModel: 'H200', gpuSeconds: 5000n * HOUR, maxConcurrentGpus: 16 },
      ]);
    expect(grant).toThrow(expect.objectContaining({ kind: 'rule_violated', code: 'GRANT_EXCEEDS_REQUEST' }));
    expect(grant).toThrow('1,001 GPU-hours of H100 is more than the 1,000 GPU-hours requested.');
    expect(grant).toThrow('8 concurrent H100 GPUs is more than the 4 requested.');
  });

  it.each([
    ['zero GPU-seconds', { gpuModel: 'H100', gpuSeconds: 0n, maxConcurrentGpus: 4 }],
    ['negative GPU-seconds', { gpuModel: 'H100', gpuSeconds: -1n, maxConcurrentGpus: 4 }],
    ['zero GPUs', { gpuModel: 'H100', gpuSeconds: HOUR, maxConcurrentGpus: 0 }],
    ['fractional GPUs', { gpuModel: 'H100', gpuSeconds: HOUR, maxConcurrentGpus: 1.5 }],
    ['an unknown model', { gpuModel: 'B200', gpuSeconds: HOUR, maxConcurrentGpus: 1 }],
  ])('rejects a grant line with %s as invalid', (_name, line) => {
    expect(() => decideApproval(requested, [line])).toThrow(
      expect.objectContaining({ kind: 'invalid', code: 'INVALID_GRANT' }),
    );
  });

  it('tells the operator to leave a line out rather than grant zero', () => {
    expect(() =>
      decideApproval(requested, [{ gpuModel: 'H100', gpuSeconds: 0n, maxConcurrentGpus: 4 }]),
    ).toThrow('to refuse the line, leave it out');
  });

  it('rejects granting the same model twice', () => {
    const line = { gpuModel: 'H100', gpuSeconds: HOUR, maxConcurrentGpus: 1 };
    expect(() => decideApproval(requested, [line, line])).toThrow(
      expect.objectContaining({
        details: { problems: [expect.objectContaining({ rule: 'DUPLICATE_GRANT_LINE' })] },
      }),
    );
  });

  it('points to rejection when nothing is granted', () => {
    expect(() => decideApproval(requested, [])).toThrow(
      expect.objectContaining({
        kind: 'rule_violated',
        code: 'NOTHING_GRANTED',
        message: expect.stringContaining('reject the request instead'),
      }),
    );
  });

  it('outcome is approved exactly when every requested line is granted in full (property)', () => {
    const line = fc
      .record({
        gpuSeconds: fc.bigInt({ min: 1n, max: 10n ** 15n }),
        maxConcurrentGpus: fc.integer({ min: 1, max: 512 }),
      })
      .chain((asked) =>
        fc.record({
          asked: fc.constant(asked),
          // undefined: the line is left out of the grant.
          grant: fc.option(
            fc.record({
              gpuSeconds: fc.bigInt({ min: 1n, max: asked.gpuSeconds }),
              maxConcurrentGpus: fc.integer({ min: 1, max: asked.maxConcurrentGpus }),
            }),
            { nil: undefined },
          ),
        }),
      );
    const scenario = fc
      .array(line, { minLength: 1, maxLength: 6 })
      .filter((lines) => lines.some((entry) => entry.grant !== undefined));
    fc.assert(
      fc.property(scenario, (lines) => {
        const asked = lines.map((entry, index) => makeRequestLine({ gpuModel: `M${index}`, ...entry.asked }));
        const grants = lines.flatMap((entry, index) =>
          entry.grant === undefined ? [] : [{ gpuModel: `M${index}`, ...entry.grant }],
        );
        const decision = decideApproval(asked, grants);
        const allFull = lines.every(
          (entry) =>
            entry.grant?.gpuSeconds === entry.asked.gpuSeconds &&
            entry.grant.maxConcurrentGpus === entry.asked.maxConcurrentGpus,
        );
        expect(decision.outcome).toBe(allFull ? 'approved' : 'partially_approved');
        expect(decision.lines.map((approved) => approved.grantedGpuSeconds)).toEqual(
          lines.map((entry) => entry.grant?.gpuSeconds ?? 0n),
        );
      }),
    );
  });
});
