import { CloseAccumulator, ClosePricing, type BilledParty, type CloseUsageRecord } from './close-lines.js';
import { KOREAN_VOUCHER_POLICY, withSubsidyRates } from './pricing.js';
import type { RateCard } from './rate-card.js';

// Seoul is UTC+9: 2026-04-01T00:00 Seoul is 2026-03-31T15:00Z.
const H100_3000: RateCard = {
  gpuModel: 'H100',
  krwPerGpuHour: 3000n,
  effectiveFrom: new Date('2025-01-01T00:00:00Z'),
};
/** A price change in the middle of April (Seoul 2026-04-16 00:00). */
const H100_3600: RateCard = {
  gpuModel: 'H100',
  krwPerGpuHour: 3600n,
  effectiveFrom: new Date('2026-04-15T15:00:00Z'),
};

function record(overrides: Partial<CloseUsageRecord> = {}): CloseUsageRecord {
  return {
    allocationId: 'alloc-a',
    gpuModel: 'H100',
    gpus: 2,
    startedAt: new Date('2026-04-10T00:00:00Z'),
    endedAt: new Date('2026-04-10T01:00:00Z'),
    refunded: false,
    billedPeriods: [],
    ...overrides,
  };
}

describe('CloseAccumulator (what a close bills of the usage it reads)', () => {
  it('sums pieces of one allocation and price into one line and marks each record once per period', () => {
    const work = new CloseAccumulator('2026-04', [H100_3000]);
    expect(work.charge(record())).toEqual(['2026-04']);
    expect(
      work.charge(
        record({ startedAt: new Date('2026-04-11T00:00:00Z'), endedAt: new Date('2026-04-11T00:30:00Z') }),
      ),
    ).toEqual(['2026-04']);
    const [line, ...rest] = work.nonEmptyLines();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      allocationId: 'alloc-a',
      gpuSeconds: 2n * 5400n,
      pieces: 2,
      correctionReason: null,
    });
    expect(line?.startsAt).toEqual(new Date('2026-04-10T00:00:00Z'));
    expect(line?.endsAt).toEqual(new Date('2026-04-11T00:30:00Z'));
    expect(work.chargedPieces).toBe(2);
  });

  it('cuts a record at a price change into two lines at their own prices', () => {
    const work = new CloseAccumulator('2026-04', [H100_3000, H100_3600]);
    // 14:00Z–16:00Z on the 15th: one hour before Seoul midnight at 3,000원, one after at 3,600원.
    work.charge(
      record({ startedAt: new Date('2026-04-15T14:00:00Z'), endedAt: new Date('2026-04-15T16:00:00Z') }),
    );
    const lines = work.nonEmptyLines().map((line) => [line.krwPerGpuHour, line.gpuSeconds]);
    expect(lines).toEqual([
      [3000n, 7200n],
      [3600n, 7200n],
    ]);
    expect(work.chargedPieces).toBe(1);
  });

  it('leaves out pieces billed before and those of refunded attempts (counting the period’s refunded usage)', () => {
    const work = new CloseAccumulator('2026-04', [H100_3000]);
    expect(work.charge(record({ billedPeriods: ['2026-04'] }))).toEqual([]);
    expect(work.charge(record({ refunded: true }))).toEqual([]);
    expect(work.nonEmptyLines()).toEqual([]);
    expect(work.refundedGpuSeconds).toBe(7200n);
    expect(work.chargedPieces).toBe(0);
  });

  it('bills late usage of a closed earlier period as a correction naming it; an open one is left to its own close', () => {
    const march = record({
      startedAt: new Date('2026-03-20T00:00:00Z'),
      endedAt: new Date('2026-03-20T01:00:00Z'),
    });
    const closing = new CloseAccumulator('2026-04', [H100_3000]);
    expect(closing.charge(march)).toEqual(['2026-03']);
    expect(closing.nonEmptyLines()[0]).toMatchObject({
      correctionReason: 'late_usage',
      placement: { chargePeriod: '2026-04', chargeClass: 'Correction', correctsPeriod: '2026-03' },
    });
    const preview = new CloseAccumulator('2026-04', [H100_3000], () => false);
    expect(preview.charge(march)).toEqual([]);
    expect(preview.nonEmptyLines()).toEqual([]);
  });

  it('credits a refunded record’s billed pieces as negative corrections; a charge and its credit cancel out', () => {
    const work = new CloseAccumulator('2026-04', [H100_3000]);
    const refunded = record({
      startedAt: new Date('2026-03-31T14:00:00Z'),
      endedAt: new Date('2026-03-31T16:00:00Z'),
      refunded: true,
      billedPeriods: ['2026-03'],
    });
    // Only March was billed: April's hour is not credited (it never was charged).
    expect(work.credit(refunded)).toEqual({ periods: ['2026-03'], gpuSeconds: 7200n });
    expect(work.nonEmptyLines()).toEqual([
      expect.objectContaining({ correctionReason: 'refund', gpuSeconds: -7200n }),
    ]);
    expect(work.credit(record({ refunded: true }))).toEqual({ periods: [], gpuSeconds: 0n });
    expect(work.creditedPieces).toBe(1);
  });
});

describe('ClosePricing (prices and numbers the lines)', () => {
  const party = (id: string, organizationName: string, programId = 'prog-1'): [string, BilledParty] => [
    id,
    {
      projectId: `project-${id}`,
      projectTitle: `Project ${id}`,
      organizationId: `org-${organizationName}`,
      organizationName,
      orgType: 'startup',
      taxId: null,
      taxIdKind: null,
      programId,
    },
  ];
  const parties = new Map([party('alloc-a', '나라대학교'), party('alloc-b', 'Alpha AI')]);
  const programs = new Map([
    ['prog-1', { code: 'P1', name: 'Program 1', agencyCode: 'NIPA', policy: KOREAN_VOUCHER_POLICY }],
  ]);

  it('orders regular lines before corrections, then by organization name in code-unit order', () => {
    const work = new CloseAccumulator('2026-04', [H100_3000]);
    work.charge(record({ allocationId: 'alloc-a' }));
    work.charge(record({ allocationId: 'alloc-b' }));
    work.charge(
      record({
        allocationId: 'alloc-b',
        startedAt: new Date('2026-03-20T00:00:00Z'),
        endedAt: new Date('2026-03-20T01:00:00Z'),
      }),
    );
    const pricing = new ClosePricing('2026-04', parties, programs, new Map());
    const ordered = pricing.order(work.nonEmptyLines()).map((line) => pricing.price(line));
    expect(ordered.map((line) => [line.chargeClass, line.organizationName])).toEqual([
      ['', 'Alpha AI'],
      ['', '나라대학교'],
      ['Correction', 'Alpha AI'],
    ]);
  });

  it('prices the period’s lines with the policy now and records it; corrections use the recorded policy', () => {
    const recordedMarch = withSubsidyRates(KOREAN_VOUCHER_POLICY, { startup: 0 });
    const work = new CloseAccumulator('2026-04', [H100_3000]);
    work.charge(record({ allocationId: 'alloc-a' }));
    work.charge(
      record({
        allocationId: 'alloc-a',
        startedAt: new Date('2026-03-20T00:00:00Z'),
        endedAt: new Date('2026-03-20T01:00:00Z'),
      }),
    );
    const pricing = new ClosePricing(
      '2026-04',
      parties,
      programs,
      new Map([['2026-03|prog-1', recordedMarch]]),
    );
    const [april, march] = pricing.order(work.nonEmptyLines()).map((line) => pricing.price(line));
    // 2 GPU-hours at 3,000원 = 6,000원: a startup's voucher subsidizes 70 % now, March's policy nothing.
    expect(april).toMatchObject({ supplyPrice: 6000n, subsidy: 4200n, originalPeriod: null });
    expect(march).toMatchObject({ supplyPrice: 6000n, subsidy: 0n, originalPeriod: '2026-03' });
    expect(pricing.recorded).toEqual([
      { period: '2026-04', programId: 'prog-1', policy: KOREAN_VOUCHER_POLICY },
    ]);
  });

  it('refuses a line whose allocation is unknown (the data is broken, not the input)', () => {
    const work = new CloseAccumulator('2026-04', [H100_3000]);
    work.charge(record({ allocationId: 'alloc-gone' }));
    const pricing = new ClosePricing('2026-04', parties, programs, new Map());
    expect(() => pricing.order(work.nonEmptyLines())).toThrow(
      'allocation alloc-gone of a usage record does not exist',
    );
  });
});
