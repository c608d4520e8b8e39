import fc from 'fast-check';
import {
  MAX_USAGE_RECORD_MS,
  meteredDurationSeconds,
  meteredGpuSeconds,
  validateUsageRecord,
  type UsageAllocationFacts,
  type UsageRecordInput,
  type UsageRejectionCode,
  type UsageWorkloadFacts,
} from './usage-record.js';
import { findUnstorableText } from '../text/storable-text.js';

const at = (iso: string): Date => new Date(iso);

const allocation: UsageAllocationFacts = {
  allocationId: 'a1',
  gpuModel: 'H100',
  startsAt: at('2026-05-01T00:00:00Z'),
  endsAt: at('2026-08-01T00:00:00Z'),
  status: 'active',
};
const workload: UsageWorkloadFacts = { id: 'w1', allocationId: 'a1' };
const now = at('2026-06-01T12:00:00Z');

function makeRecord(overrides: Partial<UsageRecordInput> = {}): UsageRecordInput {
  return {
    source: 'simulator',
    externalId: 'rec-1',
    allocationId: 'a1',
    workloadId: 'w1',
    gpuModel: 'H100',
    gpus: 8,
    startedAt: at('2026-06-01T10:00:00Z'),
    endedAt: at('2026-06-01T11:00:00Z'),
    ...overrides,
  };
}

describe('meteredGpuSeconds: a started second counts', () => {
  it.each([
    ['2026-06-01T10:00:00.000Z', '2026-06-01T10:00:00.001Z', 1n],
    ['2026-06-01T10:00:00.000Z', '2026-06-01T10:00:01.000Z', 1n],
    ['2026-06-01T10:00:00.000Z', '2026-06-01T10:00:01.001Z', 2n],
    ['2026-06-01T10:00:00.999Z', '2026-06-01T10:00:01.000Z', 1n],
    ['2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z', 3600n],
  ])('%s → %s is %p s', (from, to, seconds) => {
    expect(meteredDurationSeconds(at(from), at(to))).toBe(seconds);
    expect(meteredGpuSeconds(4, at(from), at(to))).toBe(4n * seconds);
  });

  it('is gpus × ⌈ms / 1000⌉ exactly, for any interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: 1, max: MAX_USAGE_RECORD_MS }),
        (gpus, startMs, durationMs) => {
          const gpuSeconds = meteredGpuSeconds(gpus, new Date(startMs), new Date(startMs + durationMs));
          const seconds = gpuSeconds / BigInt(gpus);
          expect(gpuSeconds % BigInt(gpus)).toBe(0n);
          expect((seconds - 1n) * 1000n < BigInt(durationMs)).toBe(true);
          expect(BigInt(durationMs) <= seconds * 1000n).toBe(true);
        },
      ),
    );
  });

  it.each<[number, string, string, string]>([
    [0, '2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z', 'INVALID_GPUS'],
    [1.5, '2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z', 'INVALID_GPUS'],
    [1, '2026-06-01T10:00:00Z', '2026-06-01T10:00:00Z', 'END_NOT_AFTER_START'],
    [1, '2026-06-01T10:00:00Z', 'not a date', 'END_NOT_AFTER_START'],
  ])('refuses %p GPUs from %s to %s', (gpus, from, to, code) => {
    expect(() => meteredGpuSeconds(gpus, at(from), at(to))).toThrow(
      expect.objectContaining({ kind: 'invalid', code }),
    );
  });
});

describe('validateUsageRecord', () => {
  it('meters a record inside the window', () => {
    expect(validateUsageRecord(makeRecord(), allocation, workload, now)).toEqual({
      ok: true,
      gpuSeconds: 8n * 3600n,
      late: false,
    });
  });

  it('accepts a record without a workload', () => {
    expect(validateUsageRecord(makeRecord({ workloadId: null }), allocation, undefined, now)).toMatchObject({
      ok: true,
    });
    expect(validateUsageRecord(makeRecord({ workloadId: undefined }), allocation, null, now)).toMatchObject({
      ok: true,
    });
  });

  it('records usage whatever the allocation status: usage is a fact', () => {
    const suspended = { ...allocation, status: 'suspended' };
    expect(validateUsageRecord(makeRecord(), suspended, workload, now)).toMatchObject({ ok: true });
  });

  it('marks usage that ran over the window end as late', () => {
    const record = makeRecord({
      startedAt: at('2026-07-31T23:00:00Z'),
      endedAt: at('2026-08-01T01:00:00Z'),
    });
    expect(validateUsageRecord(record, allocation, workload, at('2026-08-01T01:00:00Z'))).toEqual({
      ok: true,
      gpuSeconds: 8n * 7200n,
      late: true,
    });
  });

  it('marks usage delivered after the window closed as late, even if it ran inside it', () => {
    const record = makeRecord({ startedAt: at('2026-07-31T10:00:00Z'), endedAt: at('2026-07-31T11:00:00Z') });
    expect(validateUsageRecord(record, allocation, workload, at('2026-08-03T00:00:00Z'))).toMatchObject({
      ok: true,
      late: true,
    });
    expect(validateUsageRecord(record, allocation, workload, at('2026-07-31T12:00:00Z'))).toMatchObject({
      ok: true,
      late: false,
    });
  });

  it('allows 5 minutes of clock skew and 31 days exactly', () => {
    const skewed = makeRecord({ endedAt: at('2026-06-01T12:05:00Z') });
    expect(validateUsageRecord(skewed, allocation, workload, now)).toMatchObject({ ok: true });
    const month = makeRecord({ startedAt: at('2026-05-01T00:00:00Z'), endedAt: at('2026-06-01T00:00:00Z') });
    expect(validateUsageRecord(month, allocation, workload, now)).toMatchObject({
      ok: true,
      gpuSeconds: 8n * 31n * 86_400n,
    });
  });

  it.each<[string, Partial<UsageRecordInput>, UsageRejectionCode, RegExp]>([
    [
      'a NUL in the externalId',
      { externalId: 'rec\u0000-1' },
      'INVALID_TEXT',
      /externalId must not contain the NUL/,
    ],
    ['a NUL in the source', { source: '\u0000' }, 'INVALID_TEXT', /source must not contain the NUL/],
    ['a lone surrogate in the source', { source: 'slurm\ud800' }, 'INVALID_TEXT', /source .*U\+D800/],
    ['a lone surrogate in the GPU model', { gpuModel: '\udc00' }, 'INVALID_TEXT', /gpuModel .*U\+DC00/],
    ['an empty externalId', { externalId: ' ' }, 'INVALID_RECORD_KEY', /non-empty source and externalId/],
    ['an empty source', { source: '' }, 'INVALID_RECORD_KEY', /source ""/],
    ['0 GPUs', { gpus: 0 }, 'INVALID_GPUS', /"rec-1" reports 0 GPUs; send a whole number from 1 to 100000/],
    ['fractional GPUs', { gpus: 2.5 }, 'INVALID_GPUS', /2\.5 GPUs/],
    ['too many GPUs', { gpus: 100_001 }, 'INVALID_GPUS', /100001 GPUs/],
    ['an invalid date', { endedAt: at('nope') }, 'INVALID_TIMESTAMP', /"rec-1" has an invalid start or end/],
    [
      'an empty interval',
      { endedAt: at('2026-06-01T10:00:00Z') },
      'END_NOT_AFTER_START',
      /ends \(2026-06-01T10:00:00.000Z\) at or before it starts/,
    ],
    [
      'a reversed interval',
      { endedAt: at('2026-06-01T09:00:00Z') },
      'END_NOT_AFTER_START',
      /send an interval that ends after it starts/,
    ],
    [
      'over 31 days',
      { startedAt: at('2026-05-01T00:00:00Z'), endedAt: at('2026-06-01T00:00:00.001Z') },
      'RECORD_TOO_LONG',
      /more than 31 days; split it/,
    ],
    [
      'an end over 5 minutes ahead',
      { endedAt: at('2026-06-01T12:05:00.001Z') },
      'IN_THE_FUTURE',
      /ends at 2026-06-01T12:05:00.001Z, more than 5 minutes after now .*check the agent's clock/,
    ],
    ['an unknown allocation', { allocationId: 'zz' }, 'UNKNOWN_ALLOCATION', /names allocation zz/],
    [
      'another GPU model',
      { gpuModel: 'H200' },
      'GPU_MODEL_MISMATCH',
      /reports H200 GPUs, but allocation a1 is for H100/,
    ],
    [
      'a start before the window',
      { startedAt: at('2026-04-30T23:59:59.999Z'), endedAt: at('2026-05-01T01:00:00Z') },
      'OUTSIDE_ALLOCATION_WINDOW',
      /starts at 2026-04-30T23:59:59.999Z, outside allocation a1's window 2026-05-01T00:00:00.000Z to 2026-08-01/,
    ],
    [
      'a start at the window end',
      { startedAt: at('2026-08-01T00:00:00Z'), endedAt: at('2026-08-01T01:00:00Z') },
      'OUTSIDE_ALLOCATION_WINDOW',
      /outside allocation a1's window/,
    ],
    [
      'an unknown workload',
      { workloadId: 'w404' },
      'UNKNOWN_WORKLOAD',
      /names workload w404, which does not exist/,
    ],
    [
      "another allocation's workload",
      { workloadId: 'w2' },
      'WORKLOAD_NOT_IN_ALLOCATION',
      /workload w2, which runs against allocation a9, not a1/,
    ],
  ])('rejects %s', (_name, overrides, code, message) => {
    const record = makeRecord(overrides);
    const knownAllocation = record.allocationId === 'a1' ? allocation : undefined;
    const workloads: Record<string, UsageWorkloadFacts> = {
      w1: workload,
      w2: { id: 'w2', allocationId: 'a9' },
    };
    const knownWorkload = workloads[record.workloadId ?? ''];
    const afterWindow = record.startedAt.getTime() >= allocation.endsAt.getTime();
    const deliveredAt = afterWindow ? at('2026-08-01T02:00:00Z') : now;
    const verdict = validateUsageRecord(record, knownAllocation, knownWorkload, deliveredAt);
    expect(verdict).toEqual({ ok: false, code, message: expect.stringMatching(message) });
    if (!verdict.ok)
      expect(verdict.message).toContain(
        { INVALID_RECORD_KEY: 'externalId', INVALID_TEXT: 'nothing of this record' }[code as string] ??
          '"rec-1"',
      );
    // The text that cannot be stored is not quoted back either (the answer may be stored, as jsonb).
    if (code === 'INVALID_TEXT' && !verdict.ok) expect(findUnstorableText(verdict.message)).toEqual([]);
  });

  it('checks the record itself before what it names, in a fixed order', () => {
    const broken = makeRecord({
      allocationId: 'zz',
      gpuModel: 'B200',
      gpus: 0,
      endedAt: at('2026-06-01T09:00:00Z'),
    });
    const codes: string[] = [];
    let record = broken;
    for (const fix of [
      { gpus: 8 },
      { endedAt: at('2026-06-01T11:00:00Z') },
      { allocationId: 'a1' },
      { gpuModel: 'H100' },
    ]) {
      const verdict = validateUsageRecord(
        record,
        record.allocationId === 'a1' ? allocation : undefined,
        workload,
        now,
      );
      if (!verdict.ok) codes.push(verdict.code);
      record = { ...record, ...fix };
    }
    expect(codes).toEqual([
      'INVALID_GPUS',
      'END_NOT_AFTER_START',
      'UNKNOWN_ALLOCATION',
      'GPU_MODEL_MISMATCH',
    ]);
    expect(validateUsageRecord(record, allocation, workload, now)).toMatchObject({ ok: true });
  });
});
