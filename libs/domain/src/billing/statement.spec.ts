import fc from 'fast-check';
import { ORGANIZATION_TYPES } from '../organizations/organization-type.js';
import { MAX_USAGE_RECORD_MS, meteredGpuSeconds } from '../usage/usage-record.js';
import { periodOf } from './billing-period.js';
import { KOREAN_VOUCHER_POLICY, priceLine, type PricedAmounts } from './pricing.js';
import { rateAt, type RateCard } from './rate-card.js';
import {
  AMOUNT_FIELDS,
  STATEMENT_GROUPINGS,
  amountsProblems,
  assertReconciles,
  groupAmounts,
  linesByPeriodAndRate,
  splitUsageAtRateChanges,
  statementsBy,
  sumAmounts,
  zeroAmounts,
  type StatementLine,
} from './statement.js';

const at = (iso: string): Date => new Date(iso);
const HOUR = 3600n;

// H100: 3,000원 from 2026-04-01 KST, 2,500원 from 2026-05-15 KST. H200: 4,000원 from 2026-01-01 UTC.
const CARDS: RateCard[] = [
  { gpuModel: 'H100', krwPerGpuHour: 3000n, effectiveFrom: at('2026-03-31T15:00:00Z') },
  { gpuModel: 'H100', krwPerGpuHour: 2500n, effectiveFrom: at('2026-05-14T15:00:00Z') },
  { gpuModel: 'H200', krwPerGpuHour: 4000n, effectiveFrom: at('2026-01-01T00:00:00Z') },
];

describe('splitUsageAtRateChanges', () => {
  it('keeps a record inside one day and one price whole', () => {
    expect(
      splitUsageAtRateChanges(8, at('2026-05-01T01:00:00Z'), at('2026-05-01T02:00:00Z'), CARDS, 'H100'),
    ).toEqual([
      {
        day: '2026-05-01',
        period: '2026-05',
        gpuModel: 'H100',
        startsAt: at('2026-05-01T01:00:00Z'),
        endsAt: at('2026-05-01T02:00:00Z'),
        gpuSeconds: 8n * HOUR,
        krwPerGpuHour: 3000n,
        rateEffectiveFrom: at('2026-03-31T15:00:00Z'),
      },
    ]);
  });

  it('cuts at a price change inside a Seoul day', () => {
    const cards: RateCard[] = [
      { gpuModel: 'H100', krwPerGpuHour: 3000n, effectiveFrom: at('2026-03-31T15:00:00Z') },
      { gpuModel: 'H100', krwPerGpuHour: 2800n, effectiveFrom: at('2026-05-10T03:00:00Z') },
    ];
    const pieces = splitUsageAtRateChanges(
      2,
      at('2026-05-10T01:00:00Z'),
      at('2026-05-10T05:00:00Z'),
      cards,
      'H100',
    );
    expect(pieces.map((piece) => [piece.day, piece.gpuSeconds, piece.krwPerGpuHour])).toEqual([
      ['2026-05-10', 2n * 2n * HOUR, 3000n],
      ['2026-05-10', 2n * 2n * HOUR, 2800n],
    ]);
  });

  it('cuts at Seoul midnight, where the new price of 2026-05-15 also starts', () => {
    const pieces = splitUsageAtRateChanges(
      1,
      at('2026-05-14T14:00:00Z'),
      at('2026-05-14T16:00:00Z'),
      CARDS,
      'H100',
    );
    expect(pieces.map((piece) => [piece.day, piece.gpuSeconds, piece.krwPerGpuHour])).toEqual([
      ['2026-05-14', HOUR, 3000n],
      ['2026-05-15', HOUR, 2500n],
    ]);
  });

  it('prices a second by the card in effect at its start when a change falls inside it', () => {
    const cards: RateCard[] = [
      { gpuModel: 'H100', krwPerGpuHour: 3000n, effectiveFrom: at('2026-05-01T00:00:00Z') },
      { gpuModel: 'H100', krwPerGpuHour: 2000n, effectiveFrom: at('2026-05-01T00:00:10.500Z') },
    ];
    const pieces = splitUsageAtRateChanges(
      1,
      at('2026-05-01T00:00:00Z'),
      at('2026-05-01T00:00:20Z'),
      cards,
      'H100',
    );
    expect(pieces.map((piece) => [piece.gpuSeconds, piece.krwPerGpuHour])).toEqual([
      [11n, 3000n],
      [9n, 2000n],
    ]);
  });

  it('throws NO_RATE_CARD for usage before the first card', () => {
    expect(() =>
      splitUsageAtRateChanges(1, at('2026-03-31T14:00:00Z'), at('2026-03-31T16:00:00Z'), CARDS, 'H100'),
    ).toThrow(expect.objectContaining({ code: 'NO_RATE_CARD' }));
  });

  it('gives pieces that add up exactly to the metered GPU-seconds, each at the price of its start', () => {
    const base = at('2026-04-01T00:00:00Z').getTime();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 120 * 86_400_000 }),
        fc.integer({ min: 1, max: MAX_USAGE_RECORD_MS }),
        (gpus, offset, durationMs) => {
          const startedAt = new Date(base + offset);
          const endedAt = new Date(base + offset + durationMs);
          const pieces = splitUsageAtRateChanges(gpus, startedAt, endedAt, CARDS, 'H100');
          const total = pieces.reduce((sum, piece) => sum + piece.gpuSeconds, 0n);
          expect(total).toBe(meteredGpuSeconds(gpus, startedAt, endedAt));
          pieces.forEach((piece, index) => {
            expect(piece.gpuSeconds > 0n).toBe(true);
            expect(piece.gpuSeconds).toBe(
              BigInt(gpus) * BigInt((piece.endsAt.getTime() - piece.startsAt.getTime()) / 1000),
            );
            expect(piece.krwPerGpuHour).toBe(rateAt(CARDS, 'H100', piece.startsAt).krwPerGpuHour);
            expect(periodOf(piece.startsAt)).toBe(piece.period);
            expect(periodOf(new Date(piece.endsAt.getTime() - 1))).toBe(piece.period);
            if (index > 0) expect(piece.startsAt).toEqual(pieces[index - 1]?.endsAt);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('linesByPeriodAndRate', () => {
  it('adds records up per period, model and price, so a mid-month price change splits the line', () => {
    const pieces = [
      ...splitUsageAtRateChanges(8, at('2026-05-02T00:00:00Z'), at('2026-05-02T10:00:00Z'), CARDS, 'H100'),
      ...splitUsageAtRateChanges(4, at('2026-05-20T00:00:00Z'), at('2026-05-20T05:00:00Z'), CARDS, 'H100'),
      ...splitUsageAtRateChanges(2, at('2026-05-03T00:00:00Z'), at('2026-05-03T01:00:00Z'), CARDS, 'H200'),
      ...splitUsageAtRateChanges(8, at('2026-05-31T14:00:00Z'), at('2026-05-31T16:00:00Z'), CARDS, 'H100'),
      ...splitUsageAtRateChanges(1, at('2026-05-05T00:00:00Z'), at('2026-05-05T01:00:00Z'), CARDS, 'H100'),
    ];
    expect(linesByPeriodAndRate(pieces)).toEqual([
      {
        period: '2026-05',
        gpuModel: 'H100',
        krwPerGpuHour: 3000n,
        rateEffectiveFrom: at('2026-03-31T15:00:00Z'),
        startsAt: at('2026-05-02T00:00:00Z'),
        endsAt: at('2026-05-05T01:00:00Z'),
        gpuSeconds: 81n * HOUR,
      },
      {
        period: '2026-05',
        gpuModel: 'H100',
        krwPerGpuHour: 2500n,
        rateEffectiveFrom: at('2026-05-14T15:00:00Z'),
        startsAt: at('2026-05-20T00:00:00Z'),
        endsAt: at('2026-05-31T15:00:00Z'),
        gpuSeconds: 28n * HOUR,
      },
      {
        period: '2026-05',
        gpuModel: 'H200',
        krwPerGpuHour: 4000n,
        rateEffectiveFrom: at('2026-01-01T00:00:00Z'),
        startsAt: at('2026-05-03T00:00:00Z'),
        endsAt: at('2026-05-03T01:00:00Z'),
        gpuSeconds: 2n * HOUR,
      },
      {
        period: '2026-06',
        gpuModel: 'H100',
        krwPerGpuHour: 2500n,
        rateEffectiveFrom: at('2026-05-14T15:00:00Z'),
        startsAt: at('2026-05-31T15:00:00Z'),
        endsAt: at('2026-05-31T16:00:00Z'),
        gpuSeconds: 8n * HOUR,
      },
    ]);
  });
});

function line(
  keys: Partial<StatementLine>,
  gpuSeconds: bigint,
  orgType: (typeof ORGANIZATION_TYPES)[number],
): StatementLine {
  return {
    projectId: 'p1',
    organizationId: 'o1',
    programId: 'prog1',
    agencyId: 'NIPA',
    ...priceLine({ gpuSeconds, krwPerGpuHour: 3000n, orgType, policy: KOREAN_VOUCHER_POLICY }),
    ...keys,
  };
}

describe('statements', () => {
  const lines = [
    line({}, 600n * HOUR, 'startup'),
    line({ projectId: 'p2' }, 100n * HOUR, 'startup'),
    line({ projectId: 'p3', organizationId: 'o2' }, 1000n * HOUR, 'university'),
    line(
      { projectId: 'p4', organizationId: 'o3', programId: 'prog2', agencyId: 'MSIT' },
      7n,
      'youth_startup',
    ),
  ];

  it('sum every amount exactly per project, organization, program and agency', () => {
    expect(
      statementsBy(lines, 'organization').map((s) => [
        s.key,
        s.lineCount,
        s.gpuSeconds,
        s.supplyPrice,
        s.totalDueFromOrganization,
      ]),
    ).toEqual([
      ['o1', 2, 700n * HOUR, 2_100_000n, 840_000n],
      ['o2', 1, 1000n * HOUR, 0n, 0n],
      // 7 s × 3,000원/h = 5.83 → 5; −30% (1) → 4; −50% (2) → supply 2; subsidy 1.4 → 1; co-pay 1; VAT 0.1 → 0.
      ['o3', 1, 7n, 2n, 1n],
    ]);
    const agency = statementsBy(lines, 'agency');
    expect(agency.map((s) => s.key)).toEqual(['MSIT', 'NIPA']);
    expect(agency[1]).toMatchObject({
      grouping: 'agency',
      listValue: 5_100_000n,
      discount: 3_000_000n,
      subsidy: 1_470_000n,
    });
  });

  it('shows free usage at list value in the statement', () => {
    const university = statementsBy(lines, 'project').find((s) => s.key === 'p3');
    expect(university).toMatchObject({ listValue: 3_000_000n, discount: 3_000_000n, total: 0n });
  });

  it('of any grouping add up to the same grand total, and every amount identity holds', () => {
    const lineArbitrary = fc.record({
      gpuSeconds: fc.bigInt({ min: 0n, max: 10n ** 12n }),
      orgType: fc.constantFrom(...ORGANIZATION_TYPES),
      projectId: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
      organizationId: fc.constantFrom('o1', 'o2'),
      programId: fc.constantFrom('prog1', 'prog2'),
      agencyId: fc.constantFrom('NIPA', 'MSIT'),
    });
    fc.assert(
      fc.property(fc.array(lineArbitrary, { maxLength: 30 }), (specs) => {
        const priced = specs.map(({ gpuSeconds, orgType, ...keys }) => line(keys, gpuSeconds, orgType));
        const grand = sumAmounts(priced);
        expect(amountsProblems(grand)).toEqual([]);
        for (const grouping of STATEMENT_GROUPINGS) {
          const statements = statementsBy(priced, grouping);
          expect(sumAmounts(statements)).toEqual(grand);
          expect(statements.reduce((count, s) => count + s.lineCount, 0)).toBe(priced.length);
          for (const statement of statements) expect(amountsProblems(statement)).toEqual([]);
        }
      }),
    );
  });

  it('groups by any key, in code-unit order', () => {
    const grouped = groupAmounts(lines, (l) => `${l.agencyId}/${l.programId}`);
    expect(grouped.map((g) => [g.key, g.lineCount])).toEqual([
      ['MSIT/prog2', 1],
      ['NIPA/prog1', 3],
    ]);
    expect(sumAmounts([])).toEqual(zeroAmounts());
    expect(Object.keys(zeroAmounts())).toEqual([...AMOUNT_FIELDS]);
  });
});

describe('from metered usage to a statement that reconciles with the ledger', () => {
  it('prices each period-and-rate line once and totals equal ledger consumption × prices exactly', () => {
    const records = [
      { gpus: 8, startedAt: at('2026-05-10T00:00:00Z'), endedAt: at('2026-05-20T00:00:00Z') },
      { gpus: 3, startedAt: at('2026-05-01T00:00:00.250Z'), endedAt: at('2026-05-01T00:17:13.001Z') },
      { gpus: 16, startedAt: at('2026-05-30T00:00:00Z'), endedAt: at('2026-06-01T00:00:00Z') },
    ];
    const ledgerConsumed = records.reduce(
      (sum, r) => sum + meteredGpuSeconds(r.gpus, r.startedAt, r.endedAt),
      0n,
    );
    const pieces = records.flatMap((r) =>
      splitUsageAtRateChanges(r.gpus, r.startedAt, r.endedAt, CARDS, 'H100'),
    );
    const may = linesByPeriodAndRate(pieces).filter((l) => l.period === '2026-05');
    const june = linesByPeriodAndRate(pieces).filter((l) => l.period === '2026-06');
    const priced: PricedAmounts[] = [...may, ...june].map((l) =>
      priceLine({
        gpuSeconds: l.gpuSeconds,
        krwPerGpuHour: l.krwPerGpuHour,
        orgType: 'sme',
        policy: KOREAN_VOUCHER_POLICY,
      }),
    );
    const totals = sumAmounts(priced);
    expect(() => assertReconciles(totals, ledgerConsumed)).not.toThrow();
    // Each line's list value is its exact GPU-seconds × price ÷ 3600, truncated once.
    expect(totals.listValue).toBe(
      [...may, ...june].reduce((sum, l) => sum + (l.gpuSeconds * l.krwPerGpuHour) / HOUR, 0n),
    );
    expect(may.map((l) => l.krwPerGpuHour)).toEqual([3000n, 2500n]);
    expect(() => assertReconciles(totals, ledgerConsumed + 1n)).toThrow(
      expect.objectContaining({ kind: 'conflict', code: 'STATEMENT_LEDGER_MISMATCH' }),
    );
  });

  it('refuses amounts that do not add up', () => {
    const broken = { ...zeroAmounts(), coPay: 1n };
    expect(amountsProblems(broken)).toEqual([
      'subsidy + co-pay ≠ supply price',
      'co-pay + VAT ≠ organization total',
    ]);
    expect(() => assertReconciles(broken, 0n)).toThrow(
      expect.objectContaining({ code: 'STATEMENT_LEDGER_MISMATCH' }),
    );
  });
});
