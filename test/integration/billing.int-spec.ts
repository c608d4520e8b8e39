import { parse as parseCsvStrictly } from 'csv-parse/sync';
import { createHash, randomUUID } from 'node:crypto';
import { readSheet } from 'read-excel-file/node';
import type { DataSource } from 'typeorm';
import { workloadUseCases } from '../support/workload-use-cases.js';
import { billingExportJob, billingExportSweep } from '../support/billing-export-job.js';
import {
  SETTLEMENT_COLUMNS,
  SETTLEMENT_NUMERIC_COLUMNS,
} from '../../apps/scheduler/src/billing/settlement-format.js';
import {
  holdTransaction,
  KOREAN_VOUCHER_POLICY,
  meteredGpuSeconds,
  ORGANIZATION_TYPES,
  parseCsv,
  priceLine,
  splitUsageAtRateChanges,
  taxIdentityCheckDigit,
  UTF8_BOM,
  withSubsidyRates,
  type OrganizationType,
  type PricedAmounts,
  type RateCard,
} from '../../libs/domain/src/index.js';
import {
  AgencyEntity,
  billingStatements,
  billingStatementsPreview,
  BillingExportEntity,
  BillingLineEntity,
  closeBillingPeriod,
  createDataSource,
  exportChunks,
  lockPartition,
  postLedgerTransaction,
  previewBillingPeriod,
  ProgramEntity,
  RateCardEntity,
  startExportRun,
  WorkloadEntity,
  WorkloadHoldEntity,
} from '../../libs/persistence/src/index.js';
import type { StoredUsageRecord } from '../../libs/domain/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { submitWorkloads } from '../factories/pool-fixtures.js';
import {
  makeGrantedAllocation,
  makeOrganization,
  makeProject,
  makeUser,
} from '../factories/program.factory.js';
import { createTestDatabase } from '../support/database.js';

const MODEL = 'H100';
const APRIL = '2026-04';
const MAY = '2026-05';
/** Seoul midnight of 2026-04-16: the H100 price changes mid-April. */
const RATE_CHANGE = new Date('2026-04-16T00:00:00+09:00');
const CARDS: RateCard[] = [
  { gpuModel: MODEL, krwPerGpuHour: 3000n, effectiveFrom: new Date('2026-01-01T00:00:00+09:00') },
  { gpuModel: MODEL, krwPerGpuHour: 3600n, effectiveFrom: RATE_CHANGE },
];
/** The program's own subsidy rates (basis points): they replace the policy's. */
const SUBSIDY_RATES: Partial<Record<OrganizationType, number>> = {
  public: 5000,
  startup: 7000,
  youth_startup: 7000,
  sme: 7000,
};
const POLICY = withSubsidyRates(KOREAN_VOUCHER_POLICY, SUBSIDY_RATES);

const ORGANIZATIONS: Record<OrganizationType, string> = {
  university: '서울대학교',
  research_institute: '한국과학기술연구원',
  public: '=HYPERLINK("https://evil.example/?q=1","click me")',
  startup: '주식회사 스타트업, "퀀텀"',
  youth_startup: '주식회사 청년AI',
  sme: '(주)중소기업',
  enterprise: 'Samsung Electronics',
};

function brn(prefix: string): string {
  return prefix + String(taxIdentityCheckDigit(prefix));
}

function amountsOfLine(row: Record<string, string>): Omit<PricedAmounts, 'total'> {
  return {
    gpuSeconds: BigInt(row.gpu_seconds),
    listValue: BigInt(row.list_value),
    discount: BigInt(row.discount),
    supplyPrice: BigInt(row.supply_price),
    subsidy: BigInt(row.subsidy),
    coPay: BigInt(row.co_pay),
    vat: BigInt(row.vat),
    vatFromOrganization: BigInt(row.vat_from_organization),
    vatFromProgram: BigInt(row.vat_from_program),
    totalDueFromOrganization: BigInt(row.total_due_org),
    totalFromProgram: BigInt(row.total_program),
  };
}

/**
 * Billing against a real PostgreSQL: a month of usage by organizations of every type with a
 * mid-month price change, the close, late usage and a refund after closing, statements that
 * reconcile to the ledger to the won, immutability, and byte-identical exports.
 */
describe('billing (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let financeId: string;
  let programId: string;
  const agencyCode = 'NIPA';
  const allocations = new Map<OrganizationType, string>();
  /** Every billed allocation's organization type (the H100 ones above and a university's B200). */
  const typeOf = new Map<string, OrganizationType>();
  const posted: StoredUsageRecord[] = [];
  /** Records whose attempt the ledger refunds: not billed (or credited once billed). */
  const refunded = new Set<string>();
  let external = 0;
  let workloadW1: string;
  let workloadW2: string;
  let aprilLines: string;
  let aprilPreview: BillingLineEntity[];
  let mayPreview: BillingLineEntity[];
  const quiet = {
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    debug: () => undefined,
  };

  function record(
    allocationId: string,
    gpus: number,
    from: string,
    to: string,
    workload: { id: string; attempt: number } | null = null,
  ): StoredUsageRecord {
    const startedAt = new Date(from);
    const endedAt = new Date(to);
    external += 1;
    return {
      source: 'billing-test',
      externalId: `r${external}`,
      allocationId,
      workloadId: workload?.id ?? null,
      attempt: workload?.attempt ?? null,
      gpuModel: MODEL,
      gpus,
      startedAt,
      endedAt,
      gpuSeconds: meteredGpuSeconds(gpus, startedAt, endedAt),
      late: false,
    };
  }

  async function ingest(records: StoredUsageRecord[]): Promise<void> {
    const stored = await storeUsageBatch(db, null, records);
    expect(stored.accepted).toHaveLength(records.length);
    const result = await postUsageBatch(db, stored.batchId!);
    expect(result.posted).toBe(true);
    posted.push(...records);
  }

  async function storedLines(period: string): Promise<BillingLineEntity[]> {
    return db.getRepository(BillingLineEntity).find({ where: { period }, order: { lineNo: 'ASC' } });
  }

  /** What a close writes and nothing else does: a preview must leave all of it as it was. */
  async function billingWrites(): Promise<string> {
    const counts = await db.query<Record<string, number>[]>(
      `SELECT (SELECT count(*)::int FROM billing_lines) AS lines, (SELECT count(*)::int FROM billed_usage) AS billed,
              (SELECT count(*)::int FROM billing_refunds) AS refunds,
              (SELECT count(*)::int FROM billing_period_policies) AS policies`,
    );
    const periods = await db.query('SELECT period, status FROM billing_periods ORDER BY period');
    return JSON.stringify({ counts, periods });
  }

  async function linesOf(period: string): Promise<Record<string, string>[]> {
    return db.query(
      `SELECT l.*, l.gpu_seconds::text AS gpu_seconds FROM billing_lines l WHERE period = $1 ORDER BY line_no`,
      [period],
    );
  }

  /** A running attempt with its hold, as admission leaves it (see usage-posting.int-spec). */
  async function runningWorkload(organization: OrganizationType): Promise<string> {
    const allocationId = allocations.get(organization)!;
    const [allocation] = await db.query<{ project_id: string; program_id: string }[]>(
      'SELECT project_id, program_id FROM allocations WHERE id = $1',
      [allocationId],
    );
    const [id] = await submitWorkloads(db, MODEL, [
      {
        quota: { allocationId, projectId: allocation.project_id, programId: allocation.program_id },
        gpus: 4,
        walltimeSeconds: 36_000,
        simulatedRuntimeSeconds: 36_000,
        name: 'w',
      },
    ]);
    const hold = 4n * 36_000n;
    const startedAt = new Date('2026-04-20T00:00:00Z');
    await db.transaction(async (manager) => {
      await lockPartition(manager, MODEL);
      await postLedgerTransaction(
        manager,
        holdTransaction({ allocationId, workloadId: id, attempt: 0, gpuSeconds: hold }),
      );
      await manager
        .getRepository(WorkloadEntity)
        .update(id, { state: 'running', admittedAt: startedAt, startedAt, heldGpuSeconds: hold });
      await manager.getRepository(WorkloadHoldEntity).insert({
        workloadId: id,
        attempt: 0,
        allocationId,
        heldGpuSeconds: hold,
        remainingGpuSeconds: hold,
        admittedAt: startedAt,
        startedAt,
      });
    });
    return id;
  }

  /** The infrastructure failed the attempt: the ledger refunds everything metered for it. */
  async function failByInfrastructure(workloadId: string): Promise<void> {
    await db.transaction(async (manager) => {
      const workload = await manager.getRepository(WorkloadEntity).findOneByOrFail({ id: workloadId });
      await workloadUseCases(db).endAttempt.endWorkload(manager, workload, {
        state: 'failed',
        reason: 'node down',
        runtimeSeconds: 3600,
        at: new Date('2026-04-20T01:00:00Z'),
        refundReason: 'node_down: test',
      });
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase('billing');
    db = createDataSource({ url: database.url, poolSize: 6, applicationName: 'billing-test' });
    await db.initialize();
    const finance = await makeUser(db, { roles: ['finance'] });
    financeId = finance.id;
    await db.getRepository(AgencyEntity).insert({ code: agencyCode, name: '정보통신산업진흥원' });
    const program = await db.getRepository(ProgramEntity).save({
      code: 'AI-GPU-2026',
      name: '2026 AI 컴퓨팅 지원',
      agencyCode,
      fiscalYear: 2026,
      startsAt: new Date('2026-01-01T00:00:00Z'),
      endsAt: new Date('2027-01-01T00:00:00Z'),
      eligibleOrganizationTypes: [...ORGANIZATION_TYPES],
      tracks: [{ code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 64 }],
      sectorTargets: { national: 50, industry: 30, academia: 20 },
      rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }],
      subsidyRates: SUBSIDY_RATES,
    });
    programId = program.id;
    for (const card of CARDS) {
      await db.getRepository(RateCardEntity).insert({ ...card, createdBy: financeId });
    }
    let prefix = 101_81_0000;
    for (const type of ORGANIZATION_TYPES) {
      prefix += 1;
      const organizationId = await makeOrganization(db, {
        name: ORGANIZATIONS[type],
        type,
        taxIdKind: 'business_registration_number',
        taxId: brn(String(prefix)),
      });
      const owner = await makeUser(db, { organizationId });
      const projectId = await makeProject(db, { organizationId, piUserId: owner.id });
      await db.query('UPDATE projects SET title = $2 WHERE id = $1', [
        projectId,
        `${ORGANIZATIONS[type]} 연구`,
      ]);
      const { allocationId } = await makeGrantedAllocation(db, {
        projectId,
        programId,
        createdBy: owner.id,
        gpuModel: MODEL,
        grantedGpuSeconds: 100_000_000n,
      });
      allocations.set(type, allocationId);
      typeOf.set(allocationId, type);
    }

    // April (Seoul): every type uses GPUs; some records cross the price change, one crosses into May.
    const april: StoredUsageRecord[] = [];
    let hour = 0;
    for (const type of ORGANIZATION_TYPES) {
      const allocationId = allocations.get(type)!;
      hour += 1;
      april.push(
        record(allocationId, 2, `2026-04-02T0${hour % 10}:00:00Z`, `2026-04-02T0${hour % 10}:30:00Z`),
        // 7 GPUs for 1,000.25 s: 1,001 metered seconds, prices that do not divide evenly.
        record(allocationId, 7, '2026-04-05T10:00:00.000Z', '2026-04-05T10:16:40.250Z'),
        // Across the price change (15:00Z is Seoul midnight): 1 h at 3,000 won, 2 h at 3,600.
        record(allocationId, 3, '2026-04-15T14:00:00Z', '2026-04-15T17:00:00Z'),
      );
    }
    // 23:30 on Apr 30 → 00:30 on May 1 (Seoul), 8 GPUs: half in each period.
    april.push(record(allocations.get('startup')!, 8, '2026-04-30T14:30:00Z', '2026-04-30T15:30:00Z'));
    await ingest(april);

    // Two attempts of a youth startup's workloads metered in April; W1 fails by the infrastructure
    // before April closes (never billed), W2 after (billed, then credited).
    workloadW1 = await runningWorkload('youth_startup');
    workloadW2 = await runningWorkload('youth_startup');
    const w1 = record(allocations.get('youth_startup')!, 4, '2026-04-20T00:00:00Z', '2026-04-20T01:00:00Z', {
      id: workloadW1,
      attempt: 0,
    });
    const w2 = record(allocations.get('youth_startup')!, 4, '2026-04-20T00:00:00Z', '2026-04-20T01:00:00Z', {
      id: workloadW2,
      attempt: 0,
    });
    await ingest([w1, w2]);
    await failByInfrastructure(workloadW1);
    refunded.add(w1.externalId);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  /** The lines libs/domain gives for the period's pieces, per allocation and rate card, priced once. */
  function expectedLines(period: string, records: StoredUsageRecord[], sign = 1n) {
    const lines = new Map<string, { allocationId: string; gpuSeconds: bigint; krwPerGpuHour: bigint }>();
    for (const r of records) {
      for (const piece of splitUsageAtRateChanges(r.gpus, r.startedAt, r.endedAt, CARDS, r.gpuModel)) {
        if (piece.period !== period) continue;
        const key = `${r.allocationId}|${piece.rateEffectiveFrom.toISOString()}`;
        const line = lines.get(key) ?? {
          allocationId: r.allocationId,
          gpuSeconds: 0n,
          krwPerGpuHour: piece.krwPerGpuHour,
        };
        line.gpuSeconds += sign * piece.gpuSeconds;
        lines.set(key, line);
      }
    }
    return new Map(
      [...lines].map(([key, line]) => [
        key,
        priceLine({
          gpuSeconds: line.gpuSeconds,
          krwPerGpuHour: line.krwPerGpuHour,
          orgType: typeOf.get(line.allocationId)!,
          policy: POLICY,
        }),
      ]),
    );
  }

  function compareLines(actual: Record<string, string>[], expected: ReturnType<typeof expectedLines>): void {
    expect(actual).toHaveLength(expected.size);
    for (const line of actual) {
      const key = `${line.allocation_id}|${new Date(line.rate_effective_from).toISOString()}`;
      const amounts = expected.get(key);
      expect(amounts).toBeDefined();
      if (!amounts) return;
      expect(amountsOfLine(line)).toEqual({
        gpuSeconds: amounts.gpuSeconds,
        listValue: amounts.listValue,
        discount: amounts.discount,
        supplyPrice: amounts.supplyPrice,
        subsidy: amounts.subsidy,
        coPay: amounts.coPay,
        vat: amounts.vat,
        vatFromOrganization: amounts.vatFromOrganization,
        vatFromProgram: amounts.vatFromProgram,
        totalDueFromOrganization: amounts.totalDueFromOrganization,
        totalFromProgram: amounts.totalFromProgram,
      });
      expect(BigInt(line.krw_per_gpu_hour)).toBe(amounts.krwPerGpuHour);
    }
  }

  it('refuses a period that is not over, and an April with usage of a model without a rate card', async () => {
    await expect(closeBillingPeriod(db, { period: '2099-01', closedBy: financeId })).rejects.toMatchObject({
      code: 'PERIOD_NOT_OVER',
    });
    // A B200 allocation used in April, before any B200 price exists.
    const university = allocations.get('university')!;
    const [row] = await db.query<{ project_id: string }[]>(
      'SELECT project_id FROM allocations WHERE id = $1',
      [university],
    );
    const owner = await makeUser(db);
    const { allocationId: b200 } = await makeGrantedAllocation(db, {
      projectId: row.project_id,
      programId,
      createdBy: owner.id,
      gpuModel: 'B200',
      grantedGpuSeconds: 1_000_000n,
    });
    typeOf.set(b200, 'university');
    const b200Record = {
      ...record(b200, 1, '2026-04-03T00:00:00Z', '2026-04-03T01:00:00Z'),
      gpuModel: 'B200',
    };
    const stored = await storeUsageBatch(db, null, [b200Record]);
    await postUsageBatch(db, stored.batchId!);

    await expect(closeBillingPeriod(db, { period: APRIL, closedBy: financeId })).rejects.toMatchObject({
      code: 'NO_RATE_CARD',
    });
    const [period] = await db.query<{ status: string }[]>(
      'SELECT status FROM billing_periods WHERE period = $1',
      [APRIL],
    );
    expect(period?.status).toBe('open');
    expect(await db.query('SELECT 1 FROM billing_lines')).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM billed_usage')).toHaveLength(0);

    // May cannot close before April, whose usage would have nowhere to go.
    await expect(closeBillingPeriod(db, { period: MAY, closedBy: financeId })).rejects.toMatchObject({
      code: 'EARLIER_PERIOD_OPEN',
    });

    await db.getRepository(RateCardEntity).insert({
      gpuModel: 'B200',
      krwPerGpuHour: 5000n,
      effectiveFrom: new Date('2026-01-01T00:00:00+09:00'),
      createdBy: financeId,
    });
    CARDS.push({
      gpuModel: 'B200',
      krwPerGpuHour: 5000n,
      effectiveFrom: new Date('2026-01-01T00:00:00+09:00'),
    });
    posted.push(b200Record);
  });

  it('previews open April as its close will write it (read only: nothing stored), and May without the corrections April takes', async () => {
    const before = await billingWrites();
    const now = new Date('2026-05-20T00:00:00Z');
    const preview = await previewBillingPeriod(db, { period: APRIL, now });
    expect(preview).toMatchObject({
      period: APRIL,
      asOf: now,
      correctionsIncluded: true,
      earlierOpenPeriod: null,
      refundedGpuSeconds: 4n * 3600n,
    });
    const billable = posted.filter((r) => !refunded.has(r.externalId));
    const expected = expectedLines(APRIL, billable);
    expect(preview.lines).toHaveLength(expected.size);
    for (const line of preview.lines) {
      const amounts = expected.get(`${line.allocationId}|${line.rateEffectiveFrom.toISOString()}`);
      expect(amounts?.totalDueFromOrganization).toBe(line.totalDueOrg);
      expect(amounts?.gpuSeconds).toBe(line.gpuSeconds);
    }
    expect(preview.lines.map((line) => line.lineNo)).toEqual(preview.lines.map((_, index) => index + 1));
    aprilPreview = preview.lines;

    // May, while April is open: its own usage only (the record crossing midnight into May); April's
    // close takes what is pending.
    const may = await previewBillingPeriod(db, { period: MAY, now });
    expect(may).toMatchObject({ correctionsIncluded: false, earlierOpenPeriod: APRIL });
    expect(may.lines.every((line) => line.chargeClass === '' && line.period === MAY)).toBe(true);
    expect(may.totals.gpuSeconds).toBe(8n * 1800n);

    // Statements of the preview, grouped and paged like the closed ones.
    const statement = await billingStatementsPreview(db, {
      period: APRIL,
      groupBy: 'organization',
      agencyCode: null,
      programId: null,
      limit: 3,
      after: null,
      now,
    });
    expect(statement.lineCount).toBe(preview.lines.length);
    expect(statement.totals).toEqual(preview.totals);
    expect(statement.rows).toHaveLength(3);
    expect(statement.more).toBe(true);
    const byAgency = await billingStatementsPreview(db, {
      period: APRIL,
      groupBy: 'agency',
      agencyCode,
      programId: null,
      limit: 10,
      after: null,
      now,
    });
    expect(byAgency.rows).toMatchObject([{ key: agencyCode, name: '정보통신산업진흥원' }]);
    expect(byAgency.rows[0]?.amounts).toEqual(preview.totals);

    await expect(previewBillingPeriod(db, { period: '2026-06', now })).rejects.toMatchObject({
      code: 'PERIOD_NOT_STARTED',
    });
    expect(await billingWrites()).toBe(before);
  });

  it('closes April: one line per allocation and price, priced by libs/domain, refunded usage left out', async () => {
    const summary = await closeBillingPeriod(db, { period: APRIL, closedBy: financeId });
    expect(summary).toMatchObject({ period: APRIL, correctionLines: 0, refundedGpuSeconds: 4n * 3600n });
    expect(Number.isNaN(summary.closedAt.getTime())).toBe(false);

    const billable = posted.filter((r) => !refunded.has(r.externalId));
    const lines = await linesOf(APRIL);
    const expected = expectedLines(APRIL, billable);
    compareLines(lines, expected);
    // The preview was the close, line for line.
    expect(await storedLines(APRIL)).toEqual(aprilPreview);
    await expect(previewBillingPeriod(db, { period: APRIL })).rejects.toMatchObject({
      code: 'PERIOD_CLOSED',
    });
    expect(lines.map((line) => Number(line.line_no))).toEqual(lines.map((_, index) => index + 1));
    // Two lines for each H100 allocation: before and after the price change.
    for (const type of ORGANIZATION_TYPES) {
      const own = lines.filter(
        (line) => line.allocation_id === allocations.get(type) && line.gpu_model === MODEL,
      );
      expect(own.map((line) => line.krw_per_gpu_hour)).toEqual(['3000', '3600']);
    }
    expect(summary.lineCount).toBe(lines.length);

    // By hand, the youth startup's line after the change: 3 GPUs × 2 h + W2's 4 GPUs × 1 h = 10 GPU-hours
    // at 3,600 won: 36,000 list; 30% off → 25,200; a further 50% → 12,600 supply; 70% subsidy 8,820;
    // co-pay 3,780; VAT 10% of the supply price 1,260, paid by the company: 5,040 due, 8,820 from the program.
    const youth = lines.find(
      (line) => line.allocation_id === allocations.get('youth_startup') && line.krw_per_gpu_hour === '3600',
    )!;
    expect(amountsOfLine(youth)).toMatchObject({
      gpuSeconds: 36_000n,
      listValue: 36_000n,
      discount: 23_400n,
      supplyPrice: 12_600n,
      subsidy: 8_820n,
      coPay: 3_780n,
      vat: 1_260n,
      totalDueFromOrganization: 5_040n,
      totalFromProgram: 8_820n,
    });
    // The university is free: its value at list price is still shown.
    const university = lines.find(
      (line) => line.allocation_id === allocations.get('university') && line.krw_per_gpu_hour === '3000',
    )!;
    expect(BigInt(university.list_value)).toBeGreaterThan(0n);
    expect(amountsOfLine(university)).toMatchObject({
      supplyPrice: 0n,
      vat: 0n,
      totalDueFromOrganization: 0n,
    });
    expect(university.organization_name).toBe('서울대학교');
    expect(university.business_registration_number).toMatch(/^\d{10}$/);

    // Statements add the lines exactly, whatever the grouping.
    const total = [...expected.values()].reduce((sum, line) => sum + line.totalDueFromOrganization, 0n);
    for (const groupBy of ['project', 'organization', 'program', 'agency'] as const) {
      const statement = await billingStatements(db.manager, {
        period: APRIL,
        groupBy,
        agencyCode: null,
        programId: null,
        limit: 100,
        after: null,
      });
      expect(statement.totals.totalDueFromOrganization).toBe(total);
      expect(statement.rows.reduce((sum, row) => sum + row.amounts.totalDueFromOrganization, 0n)).toBe(total);
      expect(statement.rows.reduce((sum, row) => sum + row.amounts.gpuSeconds, 0n)).toBe(
        statement.totals.gpuSeconds,
      );
    }
    aprilLines = JSON.stringify(await linesOf(APRIL));
  });

  it('never changes a closed period: lines, markers and the period row refuse changes; closing again is a 409', async () => {
    await expect(closeBillingPeriod(db, { period: APRIL, closedBy: financeId })).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
    });
    await expect(
      db.query(`UPDATE billing_lines SET list_value = 0 WHERE period = $1`, [APRIL]),
    ).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM billing_lines WHERE period = $1`, [APRIL])).rejects.toThrow(
      /append-only/,
    );
    await expect(db.query(`DELETE FROM billed_usage`)).rejects.toThrow(/append-only/);
    await expect(
      db.query(`UPDATE billing_periods SET status = 'open' WHERE period = $1`, [APRIL]),
    ).rejects.toThrow(/closed/);
    await expect(
      db.query(
        `INSERT INTO billing_lines SELECT period, line_no + 1000, charge_class, correction_reason, original_period,
                allocation_id, project_id, project_title, organization_id, organization_name, org_type,
                business_registration_number, tax_id_kind, program_id, program_code, program_name, agency_code,
                gpu_model, krw_per_gpu_hour, rate_effective_from, charge_start, charge_end, gpu_seconds, list_value,
                discount, supply_price, subsidy, co_pay, vat, vat_payer, vat_from_organization, vat_from_program,
                total_due_org, total_program, usage_pieces
           FROM billing_lines WHERE period = $1 AND line_no = 1`,
        [APRIL],
      ),
    ).rejects.toThrow(/not closing/);
    expect(JSON.stringify(await linesOf(APRIL))).toBe(aprilLines);
  });

  it('bills late April usage and a refund after closing in May, as corrections naming April', async () => {
    const late = record(allocations.get('sme')!, 2, '2026-04-28T00:00:00Z', '2026-04-28T02:00:00Z');
    const may = record(allocations.get('enterprise')!, 1, '2026-05-10T00:00:00Z', '2026-05-10T05:00:00Z');
    await ingest([late, may]);
    await failByInfrastructure(workloadW2);
    const w2 = posted.find((r) => r.workloadId === workloadW2)!;
    refunded.add(w2.externalId);

    // Now April is closed, May's preview carries its corrections, as May's close will.
    const preview = await previewBillingPeriod(db, { period: MAY });
    expect(preview).toMatchObject({ correctionsIncluded: true, earlierOpenPeriod: null });
    expect(preview.lines.filter((line) => line.chargeClass === 'Correction')).toHaveLength(2);
    mayPreview = preview.lines;

    const summary = await closeBillingPeriod(db, { period: MAY, closedBy: financeId });
    expect(summary.correctionLines).toBe(2);
    expect(await storedLines(MAY)).toEqual(mayPreview);
    expect(summary.creditedPieces).toBe(1);
    const lines = await linesOf(MAY);
    const regular = lines.filter((line) => line.charge_class === '');
    const corrections = lines.filter((line) => line.charge_class === 'Correction');
    // May's own lines: the record crossing midnight into May and the enterprise's May usage.
    compareLines(
      regular,
      expectedLines(
        MAY,
        posted.filter((r) => !refunded.has(r.externalId)),
      ),
    );
    compareLines(
      corrections.filter((line) => line.correction_reason === 'late_usage'),
      expectedLines(APRIL, [late]),
    );
    compareLines(
      corrections.filter((line) => line.correction_reason === 'refund'),
      expectedLines(APRIL, [w2], -1n),
    );
    expect(corrections.every((line) => line.original_period === APRIL)).toBe(true);
    // March had no usage and never closed; once April and May are closed it cannot close on its own.
    await expect(closeBillingPeriod(db, { period: '2026-03', closedBy: financeId })).rejects.toMatchObject({
      code: 'LATER_PERIOD_CLOSED',
    });
    // Corrections come after the period's own lines.
    expect(lines.slice(-2).every((line) => line.charge_class === 'Correction')).toBe(true);
    expect(JSON.stringify(await linesOf(APRIL))).toBe(aprilLines);
  });

  it('reconciles to the ledger: every line of every period adds up to the consumed GPU-seconds, to the won', async () => {
    const [ledger] = await db.query<{ consumed: string }[]>(
      `SELECT coalesce(sum(e.amount), 0)::text AS consumed FROM ledger_entries e WHERE e.account LIKE 'consumed:%'`,
    );
    const [billed] = await db.query<{ seconds: string }[]>(
      `SELECT sum(gpu_seconds)::text AS seconds FROM billing_lines`,
    );
    expect(BigInt(billed.seconds)).toBe(BigInt(ledger.consumed));
    // And priced: the sum of the lines equals the domain's price of the same usage, line for line.
    const all = await db.query<{ due: string; program: string }[]>(
      `SELECT sum(total_due_org)::text AS due, sum(total_program)::text AS program FROM billing_lines`,
    );
    const lineSums = (await linesOf(APRIL))
      .concat(await linesOf(MAY))
      .reduce((sum, line) => sum + BigInt(line.total_due_org) + BigInt(line.total_program), 0n);
    expect(BigInt(all[0].due) + BigInt(all[0].program)).toBe(lineSums);
  });

  describe('exports', () => {
    let exporter: ReturnType<typeof billingExportJob>;

    async function requestExport(
      format: string,
      overrides: Partial<BillingExportEntity> = {},
    ): Promise<string> {
      const row = await db.getRepository(BillingExportEntity).save({
        period: APRIL,
        agencyCode: null,
        programId: null,
        format,
        status: 'queued',
        createdBy: financeId,
        ...overrides,
      });
      return row.id;
    }

    async function fileOf(exportId: string): Promise<Buffer> {
      const chunks = await db.query<{ data: Buffer }[]>(
        'SELECT data FROM billing_export_chunks WHERE export_id = $1 ORDER BY seq',
        [exportId],
      );
      return Buffer.concat(chunks.map((chunk) => chunk.data));
    }

    async function exportRow(exportId: string) {
      return db.getRepository(BillingExportEntity).findOneByOrFail({ id: exportId });
    }

    beforeAll(() => {
      exporter = billingExportJob(db, quiet);
    });

    it('writes a CSV with a BOM, Korean names, neutralized formulas, and totals equal to the lines', async () => {
      const id = await requestExport('csv');
      const outcome = await exporter.export(id);
      expect(outcome).toMatchObject({ outcome: 'done' });
      const row = await exportRow(id);
      const file = await fileOf(id);
      expect(row).toMatchObject({ status: 'done', progress: 100 });
      expect(row.bytes).toBe(BigInt(file.length));
      expect(row.sha256).toBe(createHash('sha256').update(file).digest('hex'));

      // The BOM's bytes, then strictly valid UTF-8 (a fatal decoder throws on any broken sequence).
      expect([...file.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(file);
      expect(text.startsWith(UTF8_BOM)).toBe(true);
      expect(text.endsWith('\r\n')).toBe(true);
      // An RFC 4180 parse (quotes, doubled quotes, CRLF): every record has every column.
      const [header, ...records] = parseCsv(text);
      expect(header).toEqual([...SETTLEMENT_COLUMNS]);
      expect(records.every((cells) => cells.length === SETTLEMENT_COLUMNS.length)).toBe(true);
      const lines = await linesOf(APRIL);
      expect(records).toHaveLength(lines.length);
      expect(row.rowCount).toBe(lines.length);
      const column = (name: string) => header.indexOf(name);
      const names = new Set(records.map((cells) => cells[column('BillingAccountName')]));
      expect(names).toContain('서울대학교');
      expect(names).toContain('주식회사 청년AI');
      expect(names).toContain('주식회사 스타트업, "퀀텀"');
      // The formula is neutralized: Excel shows it as text.
      expect(names).toContain(`'${ORGANIZATIONS.public}`);
      expect(text).not.toMatch(/(^|,)=HYPERLINK/m);
      const consumed = records.reduce((sum, cells) => sum + BigInt(cells[column('ConsumedGpuSeconds')]), 0n);
      const due = records.reduce(
        (sum, cells) => sum + BigInt(cells[column('AmountDueFromOrganization')]),
        0n,
      );
      const totals = row.totals as Record<string, string>;
      expect(consumed.toString()).toBe(totals.gpuSeconds);
      expect(due.toString()).toBe(totals.totalDueFromOrganization);
      const [sums] = await db.query<{ seconds: string; due: string }[]>(
        'SELECT sum(gpu_seconds)::text AS seconds, sum(total_due_org)::text AS due FROM billing_lines WHERE period = $1',
        [APRIL],
      );
      expect(totals.gpuSeconds).toBe(sums.seconds);
      expect(totals.totalDueFromOrganization).toBe(sums.due);
      expect(records[0][column('BusinessRegistrationNumber')]).toMatch(/^\d{3}-\d{2}-\d{5}$/);

      // An independent parser (csv-parse, strict: equal column counts, quotes per RFC 4180, BOM
      // recognised) reads exactly the same cells as ours.
      const independent: string[][] = parseCsvStrictly(file, { bom: true, relax_column_count: false });
      expect(independent).toEqual([header, ...records]);
    });

    it('gives identical bytes for the same closed period, whatever the batch and chunk sizes', async () => {
      const first = await requestExport('csv');
      const second = await requestExport('csv');
      await exporter.export(first);
      const small = billingExportJob(db, quiet, {
        batchSize: 3,
        chunkBytes: 256,
      });
      await small.export(second);
      const [a, b] = [await exportRow(first), await exportRow(second)];
      expect(b.sha256).toBe(a.sha256);
      expect((await fileOf(second)).equals(await fileOf(first))).toBe(true);
      const chunks = await db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM billing_export_chunks WHERE export_id = $1',
        [second],
      );
      expect(chunks[0].n).toBeGreaterThan(3);
      // After May closed (and late usage, and a refund), April's export is still the same file.
      expect(aprilLines).toBe(JSON.stringify(await linesOf(APRIL)));
    });

    /** The file as the API's download streams it: the stored chunks in order. */
    async function downloadOf(exportId: string): Promise<Buffer> {
      const chunks: Buffer[] = [];
      for await (const chunk of exportChunks(db, exportId)) chunks.push(chunk);
      return Buffer.concat(chunks);
    }

    it('writes an XLSX that a spreadsheet reader opens: the CSV header and cells, Korean text, neutralized formulas, the same totals', async () => {
      const xlsxId = await requestExport('xlsx');
      const csvId = await requestExport('csv');
      expect(await exporter.export(xlsxId)).toMatchObject({ outcome: 'done' });
      await exporter.export(csvId);
      const row = await exportRow(xlsxId);
      const file = await downloadOf(xlsxId);
      expect(row).toMatchObject({ status: 'done', progress: 100 });
      expect(row.bytes).toBe(BigInt(file.length));
      expect(row.sha256).toBe(createHash('sha256').update(file).digest('hex'));
      // A ZIP: local file header first, end of central directory last.
      expect(file.readUInt32LE(0)).toBe(0x04034b50);
      expect(file.readUInt32LE(file.length - 22)).toBe(0x06054b50);

      const sheet = await readSheet(file, { trim: false, parseNumber: (number: string) => number });
      const [header, ...records] = sheet;
      expect(header).toEqual([...SETTLEMENT_COLUMNS]);
      const lines = await linesOf(APRIL);
      expect(records).toHaveLength(lines.length);
      expect(row.rowCount).toBe(lines.length);
      const column = (name: string) => SETTLEMENT_COLUMNS.indexOf(name as never);
      const names = new Set(records.map((cells) => cells[column('BillingAccountName')]));
      expect(names).toContain('서울대학교');
      expect(names).toContain('한국과학기술연구원');
      expect(names).toContain('주식회사 스타트업, "퀀텀"');
      // The formula is neutralized exactly as in the CSV (an inline string is never a formula, but a
      // copy or a save as CSV would make it one).
      expect(names).toContain(`'${ORGANIZATIONS.public}`);
      expect([...names].some((name) => typeof name === 'string' && /^[=+\-@]/.test(name))).toBe(false);

      // Cell for cell the CSV's text; won amounts and quantities are numbers (read back as their text).
      const [, ...csvRecords] = parseCsv((await fileOf(csvId)).toString('utf8'));
      expect(records.map((cells) => cells.map((cell) => (cell === null ? '' : String(cell))))).toEqual(
        csvRecords,
      );
      const numeric = [...SETTLEMENT_NUMERIC_COLUMNS].map(column);
      for (const cells of records) {
        for (const index of numeric) expect(typeof cells[index]).toBe('string');
      }
      const sum = (rows: readonly (readonly unknown[])[], name: string) =>
        rows.reduce((total, cells) => total + BigInt(String(cells[column(name)])), 0n);
      const csvTotals = (await exportRow(csvId)).totals as Record<string, string>;
      expect(row.totals).toEqual(csvTotals);
      expect(sum(records, 'ConsumedGpuSeconds').toString()).toBe(csvTotals.gpuSeconds);
      expect(sum(records, 'ListCost').toString()).toBe(csvTotals.listValue);
      expect(sum(records, 'SupplyPrice').toString()).toBe(csvTotals.supplyPrice);
      expect(sum(records, 'VAT').toString()).toBe(csvTotals.vat);
      expect(sum(records, 'AmountDueFromOrganization').toString()).toBe(csvTotals.totalDueFromOrganization);
      expect(sum(records, 'AmountFromProgram').toString()).toBe(csvTotals.totalFromProgram);
      const [ledger] = await db.query<{ seconds: string }[]>(
        'SELECT sum(gpu_seconds)::text AS seconds FROM billing_lines WHERE period = $1',
        [APRIL],
      );
      expect(sum(records, 'ConsumedGpuSeconds').toString()).toBe(ledger.seconds);
    });

    it('gives a byte-identical XLSX when the same closed period is exported again, whatever the batch and chunk sizes', async () => {
      const first = await requestExport('xlsx');
      const second = await requestExport('xlsx');
      await exporter.export(first);
      const small = billingExportJob(db, quiet, {
        batchSize: 2,
        chunkBytes: 300,
      });
      await small.export(second);
      const [a, b] = [await exportRow(first), await exportRow(second)];
      expect(a.sha256).not.toBeNull();
      expect(b.sha256).toBe(a.sha256);
      expect((await downloadOf(second)).equals(await downloadOf(first))).toBe(true);
      const chunks = await db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM billing_export_chunks WHERE export_id = $1',
        [second],
      );
      expect(chunks[0].n).toBeGreaterThan(3);
    });

    it('is idempotent under redelivery: a done export is left alone, a running one restarts from scratch', async () => {
      const id = await requestExport('json');
      await exporter.export(id);
      const done = await exportRow(id);
      expect(await exporter.export(id)).toEqual({ outcome: 'skipped' });
      expect((await exportRow(id)).sha256).toBe(done.sha256);

      // A run that died half-way left a chunk; the redelivered job starts a new run and rewrites it.
      const again = await requestExport('json');
      const crashed = await startExportRun(db, again);
      await db.query(`INSERT INTO billing_export_chunks (export_id, seq, data) VALUES ($1, 0, 'garbage')`, [
        again,
      ]);
      expect(crashed?.run).toBe(1);
      expect(await exporter.export(again)).toMatchObject({ outcome: 'done' });
      const rewritten = await exportRow(again);
      expect(rewritten).toMatchObject({ status: 'done', attempts: 2, sha256: done.sha256 });
      expect((await fileOf(again)).equals(await fileOf(id))).toBe(true);

      const parsed = JSON.parse((await fileOf(id)).toString('utf8')) as Record<string, string | null>[];
      expect(parsed).toHaveLength(done.rowCount!);
      expect(Object.keys(parsed[0])).toEqual([...SETTLEMENT_COLUMNS]);
      expect(parsed.some((line) => line.BillingAccountName === '주식회사 청년AI')).toBe(true);
    });

    it("limits an agency's or a program's export to its lines, and refuses periods that are not closed", async () => {
      const otherAgency = await requestExport('csv', { agencyCode: 'KISTI' });
      await exporter.export(otherAgency);
      expect(await exportRow(otherAgency)).toMatchObject({ status: 'done', rowCount: 0 });
      const header = parseCsv((await fileOf(otherAgency)).toString('utf8'));
      expect(header).toHaveLength(1);

      const program = await requestExport('csv', { programId });
      await exporter.export(program);
      expect((await exportRow(program)).rowCount).toBe((await linesOf(APRIL)).length);

      const open = await requestExport('csv', { period: '2026-06' });
      expect(await exporter.export(open)).toMatchObject({ outcome: 'failed' });
      expect(await exportRow(open)).toMatchObject({ status: 'failed' });
      // An empty XLSX is still a workbook: the header row alone.
      const emptyXlsx = await requestExport('xlsx', { agencyCode: 'KISTI' });
      await exporter.export(emptyXlsx);
      expect(await exportRow(emptyXlsx)).toMatchObject({ status: 'done', rowCount: 0 });
      expect(await readSheet(await fileOf(emptyXlsx), { trim: false })).toEqual([[...SETTLEMENT_COLUMNS]]);
    });
  });

  it('sweeps exports whose job was lost back into the queue, and leaves finished ones', async () => {
    const enqueued: unknown[] = [];
    const live = new Set<string>();
    const sweeper = {
      queue: () => ({
        getJob: (jobId: string) =>
          Promise.resolve(live.has(jobId) ? { getState: () => Promise.resolve('active') } : undefined),
      }),
      enqueueMany: (jobs: unknown[]) => {
        enqueued.push(...jobs);
        return Promise.resolve();
      },
    } as unknown as JobProducer;
    const sweep = billingExportSweep(db, sweeper);
    const lost = await db.getRepository(BillingExportEntity).save({
      period: APRIL,
      agencyCode: null,
      programId: null,
      format: 'csv',
      status: 'queued',
      createdBy: financeId,
    });
    const running = await db.getRepository(BillingExportEntity).save({
      period: APRIL,
      agencyCode: null,
      programId: null,
      format: 'csv',
      status: 'queued',
      createdBy: financeId,
    });
    live.add(`export-${running.id}`);
    expect(await sweep.execute(60_000)).toEqual({ requeued: 0 });
    await db.query(
      `UPDATE billing_exports SET requested_at = now() - interval '2 minutes' WHERE id = ANY($1)`,
      [[lost.id, running.id]],
    );
    expect(await sweep.execute(60_000)).toEqual({ requeued: 1 });
    expect(enqueued).toEqual([{ name: 'billing.export', data: { exportId: lost.id } }]);
  });

  it('serves a random unknown export id as nothing to do', async () => {
    const exporter = billingExportJob(db, quiet);
    expect(await exporter.export(randomUUID())).toEqual({ outcome: 'skipped' });
  });
});
