import { randomUUID } from 'node:crypto';
import { periodBounds, zeroAmounts, type BillingPeriodState, type PricedAmounts } from '#domain';
import {
  BillingCloseRepository,
  BillingExportEntity,
  BillingExportRepository,
  BillingPeriodCloser,
  BillingPeriodRepository,
  BillingPricingRepository,
  BillingStatementsRepository,
  ExportRunSuperseded,
  RateCardEntity,
  type BillingExportListFilter,
  type BillingLineEntity,
  type BillingLineFilter,
  type BillingPeriodRow,
  type BillingProgram,
  type ExportResult,
  type ExportRun,
  type NewBillingExport,
  type NewRateCard,
  type Page,
  type StatementPage,
  type StatementPreviewPage,
  type StatementPreviewQuery,
  type StatementQuery,
  type StoredPricingPolicy,
  type StoredProgramPricing,
  type BillingCloseRecord,
  type BillingCloseResult,
  type ClosedPeriodSummary,
  type Tx,
} from '#persistence';

/** Close records in memory, with the one-active-per-period rule of the partial unique index. */
export class FakeBillingCloseRepository extends BillingCloseRepository {
  readonly records = new Map<string, BillingCloseRecord>();

  override requestClose(
    _tx: Tx,
    input: { period: string; requestedBy: string; requestId: string | null },
  ): Promise<{ record: BillingCloseRecord; created: boolean }> {
    const active = [...this.records.values()].find(
      (record) =>
        record.period === input.period && (record.status === 'queued' || record.status === 'running'),
    );
    if (active) return Promise.resolve({ record: active, created: false });
    const record: BillingCloseRecord = {
      id: randomUUID(),
      period: input.period,
      status: 'queued',
      phase: 'queued',
      requestedBy: input.requestedBy,
      requestId: input.requestId,
      attempts: 0,
      errorCode: null,
      errorMessage: null,
      result: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
    };
    this.records.set(record.id, record);
    return Promise.resolve({ record, created: true });
  }

  override findById(id: string): Promise<BillingCloseRecord | null> {
    return Promise.resolve(this.records.get(id) ?? null);
  }

  override latestOf(period: string): Promise<BillingCloseRecord | null> {
    const all = [...this.records.values()].filter((record) => record.period === period);
    return Promise.resolve(all[all.length - 1] ?? null);
  }

  override startAttempt(id: string): Promise<BillingCloseRecord | null> {
    const record = this.records.get(id);
    if (!record || (record.status !== 'queued' && record.status !== 'running')) return Promise.resolve(null);
    record.status = 'running';
    record.phase = 'closing';
    record.attempts += 1;
    return Promise.resolve(record);
  }

  override markSucceeded(_tx: Tx, id: string, result: BillingCloseResult): Promise<void> {
    const record = this.records.get(id)!;
    Object.assign(record, { status: 'succeeded', phase: 'done', result });
    return Promise.resolve();
  }

  override markFailed(id: string, error: { code: string; message: string }): Promise<void> {
    const record = this.records.get(id)!;
    Object.assign(record, {
      status: 'failed',
      phase: 'failed',
      errorCode: error.code,
      errorMessage: error.message,
    });
    return Promise.resolve();
  }

  override unfinished(): Promise<string[]> {
    return Promise.resolve(
      [...this.records.values()]
        .filter((record) => record.status === 'queued' || record.status === 'running')
        .map((record) => record.id),
    );
  }
}

/** A period closer whose states and close outcome a test sets; counts the closes it ran. */
export class FakeBillingPeriodCloser extends BillingPeriodCloser {
  readonly states = new Map<string, BillingPeriodState>();
  closes = 0;
  refuseWith: Error | null = null;
  closeFails: Error | null = null;

  override checkClosable(period: string): Promise<BillingPeriodState> {
    if (this.refuseWith) return Promise.reject(this.refuseWith);
    return Promise.resolve(this.states.get(period) ?? 'open');
  }

  override stateOf(period: string): Promise<BillingPeriodState> {
    return Promise.resolve(this.states.get(period) ?? 'open');
  }

  override async close(input: {
    period: string;
    closedBy: string | null;
    beforeCommit: (tx: Tx, summary: ClosedPeriodSummary) => Promise<void>;
  }): Promise<ClosedPeriodSummary> {
    if (this.closeFails) throw this.closeFails;
    const summary: ClosedPeriodSummary = {
      period: input.period,
      startsAt: new Date(0),
      endsAt: new Date(0),
      closedAt: new Date(),
      lineCount: 3,
      correctionLines: 1,
      chargedPieces: 5,
      creditedPieces: 0,
      refundedGpuSeconds: 7n,
      totals: {
        gpuSeconds: 3600n,
        listValue: 0n,
        discount: 0n,
        supplyPrice: 0n,
        subsidy: 0n,
        coPay: 0n,
        vat: 0n,
        vatFromOrganization: 0n,
        vatFromProgram: 0n,
        totalDueFromOrganization: 0n,
        totalFromProgram: 0n,
        total: 0n,
      },
    };
    await input.beforeCommit({} as Tx, summary);
    this.closes += 1;
    this.states.set(input.period, 'closed');
    return summary;
  }
}

/** Billing periods whose states a test sets (a period without one is open). */
export class FakeBillingPeriodRepository extends BillingPeriodRepository {
  readonly states = new Map<string, BillingPeriodState>();

  override find(period: string): Promise<BillingPeriodRow | null> {
    const status = this.states.get(period);
    if (status === undefined) return Promise.resolve(null);
    const bounds = periodBounds(period);
    return Promise.resolve({
      period,
      status,
      starts_at: bounds.startsAt,
      ends_at: bounds.endsAt,
      closing_started_at: null,
      closed_at: null,
      closed_by: null,
      line_count: null,
      totals: null,
    });
  }

  override list(): Promise<BillingPeriodRow[]> {
    return Promise.reject(new Error('FakeBillingPeriodRepository.list is not used by unit tests'));
  }

  override agencyShare(): Promise<{ lineCount: number; totals: PricedAmounts }> {
    return Promise.resolve({ lineCount: 0, totals: zeroAmounts() });
  }
}

/** Programs, stored policies and rate cards in memory, with the one-card-per-model-and-instant rule. */
export class FakeBillingPricingRepository extends BillingPricingRepository {
  readonly programs = new Map<string, BillingProgram>();
  readonly policies = new Map<string, StoredProgramPricing>();
  readonly cards: RateCardEntity[] = [];
  /** The newest period closing or closed. */
  fixedPeriod: string | null = null;
  /** What the use case did, in order: `wait` (for a close in progress), `read-fixed`, `insert`, `lock`. */
  readonly calls: string[] = [];

  override program(programId: string, options: { lock?: boolean } = {}): Promise<BillingProgram | null> {
    if (options.lock) this.calls.push('lock');
    return Promise.resolve(this.programs.get(programId) ?? null);
  }

  override storedPolicy(programId: string): Promise<StoredProgramPricing | null> {
    return Promise.resolve(this.policies.get(programId) ?? null);
  }

  override savePolicy(
    _tx: Tx,
    change: { programId: string; policy: StoredPricingPolicy; updatedBy: string; updatedAt: Date },
  ): Promise<void> {
    this.policies.set(change.programId, {
      policy: change.policy,
      updatedBy: change.updatedBy,
      updatedAt: change.updatedAt,
    });
    return Promise.resolve();
  }

  override waitForCloseInProgress(): Promise<void> {
    this.calls.push('wait');
    return Promise.resolve();
  }

  override latestFixedPeriod(): Promise<string | null> {
    this.calls.push('read-fixed');
    return Promise.resolve(this.fixedPeriod);
  }

  override insertRateCard(_tx: Tx, card: NewRateCard): Promise<RateCardEntity | null> {
    this.calls.push('insert');
    const taken = this.cards.some(
      (other) =>
        other.gpuModel === card.gpuModel && other.effectiveFrom.getTime() === card.effectiveFrom.getTime(),
    );
    if (taken) return Promise.resolve(null);
    const entity = Object.assign(new RateCardEntity(), { ...card, id: randomUUID(), createdAt: new Date() });
    this.cards.push(entity);
    return Promise.resolve(entity);
  }

  override rateCardsPage(filter: { gpuModel?: string }): Promise<Page<RateCardEntity>> {
    return Promise.resolve({
      items: this.cards.filter((card) => filter.gpuModel === undefined || card.gpuModel === filter.gpuModel),
      nextCursor: null,
    });
  }
}

/** Statements that answer empty pages and record the queries they were asked. */
export class FakeBillingStatementsRepository extends BillingStatementsRepository {
  readonly queries: StatementQuery[] = [];

  override statements(query: StatementQuery): Promise<StatementPage> {
    this.queries.push(query);
    return Promise.resolve({ rows: [], totals: zeroAmounts(), lineCount: 0, more: false });
  }

  override preview(query: StatementPreviewQuery): Promise<StatementPreviewPage> {
    this.queries.push(query);
    return Promise.resolve({
      rows: [],
      totals: zeroAmounts(),
      lineCount: 0,
      more: false,
      preview: {
        ...periodBounds(query.period),
        period: query.period,
        asOf: query.now ?? new Date(),
        correctionsIncluded: false,
        earlierOpenPeriod: null,
        refundedGpuSeconds: 0n,
      },
    });
  }
}

/**
 * Exports, their runs and chunks in memory: a run fences out the one before it by its number, as
 * the attempts column does.
 */
export class FakeBillingExportRepository extends BillingExportRepository {
  readonly agencies = new Set<string>();
  readonly rows = new Map<string, BillingExportEntity>();
  readonly chunksOf = new Map<string, Buffer[]>();
  readonly lines: BillingLineEntity[] = [];

  override agencyExists(agencyCode: string): Promise<boolean> {
    return Promise.resolve(this.agencies.has(agencyCode));
  }

  override insert(_tx: Tx, request: NewBillingExport): Promise<string> {
    const row = Object.assign(new BillingExportEntity(), {
      ...request,
      id: randomUUID(),
      status: 'queued',
      progress: 0,
      rowCount: null,
      totals: null,
      sha256: null,
      bytes: null,
      requestedAt: new Date(),
      startedAt: null,
      finishedAt: null,
      attempts: 0,
      error: null,
    });
    this.rows.set(row.id, row);
    return Promise.resolve(row.id);
  }

  override find(exportId: string): Promise<BillingExportEntity | null> {
    return Promise.resolve(this.rows.get(exportId) ?? null);
  }

  override page(filter: BillingExportListFilter): Promise<Page<BillingExportEntity>> {
    return Promise.resolve({
      items: [...this.rows.values()].filter(
        (row) =>
          (filter.agencyCode === null || row.agencyCode === filter.agencyCode) &&
          (filter.period === undefined || row.period === filter.period) &&
          (filter.status === undefined || row.status === filter.status),
      ),
      nextCursor: null,
    });
  }

  override async *chunks(exportId: string): AsyncGenerator<Buffer> {
    await Promise.resolve();
    yield* this.chunksOf.get(exportId) ?? [];
  }

  override startRun(exportId: string): Promise<ExportRun | null> {
    const row = this.rows.get(exportId);
    if (!row || (row.status !== 'queued' && row.status !== 'running')) return Promise.resolve(null);
    Object.assign(row, { status: 'running', attempts: row.attempts + 1, progress: 0 });
    this.chunksOf.set(exportId, []);
    return Promise.resolve({
      exportId,
      run: row.attempts,
      period: row.period,
      agencyCode: row.agencyCode,
      programId: row.programId,
      format: row.format,
    });
  }

  override countLines(filter: BillingLineFilter): Promise<number> {
    return Promise.resolve(this.linesOf(filter).length);
  }

  override async *lineBatches(
    filter: BillingLineFilter,
    batchSize: number,
  ): AsyncGenerator<BillingLineEntity[]> {
    await Promise.resolve();
    const lines = this.linesOf(filter);
    for (let start = 0; start < lines.length; start += batchSize) yield lines.slice(start, start + batchSize);
  }

  override appendChunk(run: ExportRun, _seq: number, data: Buffer, progress: number): Promise<void> {
    const row = this.rows.get(run.exportId)!;
    if (row.attempts !== run.run || row.status !== 'running')
      return Promise.reject(new ExportRunSuperseded(`export ${run.exportId} run ${run.run} was superseded`));
    row.progress = progress;
    this.chunksOf.get(run.exportId)!.push(data);
    return Promise.resolve();
  }

  override finish(run: ExportRun, result: ExportResult): Promise<boolean> {
    const row = this.rows.get(run.exportId)!;
    if (row.attempts !== run.run || row.status !== 'running') return Promise.resolve(false);
    Object.assign(row, { ...result, status: 'done', progress: 100 });
    return Promise.resolve(true);
  }

  override fail(exportId: string, error: string): Promise<void> {
    const row = this.rows.get(exportId);
    if (row && (row.status === 'queued' || row.status === 'running')) {
      Object.assign(row, { status: 'failed', error });
      this.chunksOf.delete(exportId);
    }
    return Promise.resolve();
  }

  override unfinished(): Promise<string[]> {
    return Promise.resolve(
      [...this.rows.values()]
        .filter((row) => row.status === 'queued' || row.status === 'running')
        .map((row) => row.id),
    );
  }

  private linesOf(filter: BillingLineFilter): BillingLineEntity[] {
    return this.lines.filter(
      (line) =>
        line.period === filter.period &&
        (filter.agencyCode === null || line.agencyCode === filter.agencyCode) &&
        (filter.programId === null || line.programId === filter.programId),
    );
  }
}
