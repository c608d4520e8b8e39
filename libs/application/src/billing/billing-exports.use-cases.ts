import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  agencyVisibleTo,
  agencyInScope,
  billingScopeOf,
  conflict,
  isDomainError,
  notFound,
  parsePeriod,
  ruleViolated,
  sumAmounts,
  zeroAmounts,
  type PricedAmounts,
  type Principal,
} from '#domain';
import {
  amountsJson,
  amountsOf,
  AuditRepository,
  BILLING_EXPORT_MEDIA,
  BillingExportRepository,
  BillingPeriodRepository,
  BillingPricingRepository,
  ExportRunSuperseded,
  TransactionRunner,
  type BillingExportEntity,
  type BillingExportFormat,
  type BillingLineEntity,
  type ExportRun,
  type Page,
  type PageQuery,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, jobOptionsFor, type JobItem, type WarningLogger } from '#queues';
import { assertPeriodClosed, programAgencyInScope } from './billing-checks.js';

/** The logger the export request warns through (optional: Nest's Logger by default). */
export const BILLING_EXPORT_LOGGER = Symbol('BILLING_EXPORT_LOGGER');

/**
 * `POST /v1/billing/exports`: checks the scope (a finance user of an agency exports theirs only),
 * the agency, the program and that the period is closed, records a queued export and enqueues
 * `billing.export` after commit; the `reconcile.exports` sweep re-enqueues one whose job was lost.
 */
@Injectable()
export class RequestBillingExportUseCase {
  private readonly logger: WarningLogger;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly exports: BillingExportRepository,
    private readonly periods: BillingPeriodRepository,
    private readonly pricing: BillingPricingRepository,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
    @Optional() @Inject(BILLING_EXPORT_LOGGER) logger?: WarningLogger,
  ) {
    this.logger = logger ?? new Logger(RequestBillingExportUseCase.name);
  }

  async execute(input: {
    principal: Principal;
    period: string;
    agencyCode?: string;
    programId?: string;
    format: BillingExportFormat;
    requestId: string | null;
  }): Promise<{ id: string; status: 'queued' }> {
    const { principal, programId } = input;
    const scope = billingScopeOf(principal);
    const period = parsePeriod(input.period);
    const agencyCode = agencyInScope(scope, input.agencyCode);
    if (agencyCode !== null && !(await this.exports.agencyExists(agencyCode)))
      throw notFound('Agency', agencyCode);
    if (programId !== undefined) {
      const programAgency = await programAgencyInScope(this.pricing, scope, programId);
      if (agencyCode !== null && programAgency !== agencyCode) {
        throw ruleViolated(
          'PROGRAM_NOT_IN_AGENCY',
          `Program ${programId} belongs to agency ${programAgency}, not ${agencyCode}; the export would be empty.`,
          { programId, agencyCode },
        );
      }
    }
    await assertPeriodClosed(this.periods, period);
    const createdBy = principal.kind === 'user' ? principal.userId : principal.createdBy;
    const request = { period, agencyCode, programId: programId ?? null, format: input.format };
    const id = await this.transactions.run(async (tx) => {
      const exportId = await this.exports.insert(tx, { ...request, createdBy });
      await this.audit.record(tx, {
        principal,
        action: 'billing_export.requested',
        subjectType: 'billing_export',
        subjectId: exportId,
        after: request,
        requestId: input.requestId,
      });
      return exportId;
    });
    await enqueueAfterCommit(
      this.producer,
      { name: 'billing.export', data: { exportId: id } },
      { logger: this.logger, recoveredBy: 'the reconcile.exports sweep (billing_exports)' },
    );
    return { id, status: 'queued' };
  }
}

export interface ExportDownload {
  contentType: string;
  filename: string;
  sha256: string;
  bytes: bigint;
  chunks: AsyncGenerator<Buffer>;
}

/**
 * Reads of exports. A finance user of an agency only ever sees their agency's exports: others' are
 * 404s (they do not exist for them), and lists are always limited to their agency.
 */
@Injectable()
export class BillingExportQueries {
  constructor(private readonly exports: BillingExportRepository) {}

  get(principal: Principal, exportId: string): Promise<BillingExportEntity> {
    return this.visible(principal, exportId);
  }

  list(
    principal: Principal,
    filter: { period?: string; status?: string },
    page: PageQuery,
  ): Promise<Page<BillingExportEntity>> {
    const scope = billingScopeOf(principal);
    return this.exports.page(
      { ...filter, agencyCode: scope.kind === 'agency' ? scope.agencyCode : null },
      page,
    );
  }

  /** The finished file, streamed chunk by chunk; 409 EXPORT_NOT_READY until it is done. */
  async download(principal: Principal, exportId: string): Promise<ExportDownload> {
    const row = await this.visible(principal, exportId);
    if (row.status !== 'done' || row.sha256 === null || row.bytes === null) {
      throw conflict(
        'EXPORT_NOT_READY',
        `Export ${exportId} is ${row.status}${row.status === 'running' ? ` (${row.progress}%)` : ''}; download it once it is done.`,
        { status: row.status, progress: row.progress },
      );
    }
    const media = BILLING_EXPORT_MEDIA[row.format as BillingExportFormat];
    const scopeName = [row.agencyCode ?? 'all-agencies', row.programId ? `program-${row.programId}` : null]
      .filter((part) => part !== null)
      .join('-');
    return {
      contentType: media.contentType,
      filename: `gpupool-settlement-${row.period}-${scopeName}.${media.extension}`,
      sha256: row.sha256,
      bytes: row.bytes,
      chunks: this.exports.chunks(row.id),
    };
  }

  private async visible(principal: Principal, exportId: string): Promise<BillingExportEntity> {
    const scope = billingScopeOf(principal);
    const row = await this.exports.find(exportId);
    if (!row || !agencyVisibleTo(scope, row.agencyCode)) {
      throw notFound('Billing export', exportId);
    }
    return row;
  }
}

/** How an export file of a format is written (the scheduler's CSV/JSON/XLSX writers implement it). */
export interface SettlementFileFormat {
  open(
    sink: (bytes: Buffer) => Promise<void>,
    context: { period: string },
  ): {
    /** Writes one line (the header goes out when the file opens). */
    line(line: BillingLineEntity, index: number): Promise<void>;
    end(rows: number): Promise<void>;
  };
}

/** The file writers of this deployment (a port: the scheduler binds its writers). */
export abstract class SettlementFiles {
  /** The format of an export; undefined for one this deployment cannot write. */
  abstract formatOf(format: string): SettlementFileFormat | undefined;
  /** A writer failure another attempt would only repeat. */
  abstract isPermanent(error: unknown): boolean;
}

export interface BillingExportLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface BillingExportOptions {
  /** Lines read per query (keyset on line_no). */
  batchSize: number;
  /** Bytes per stored chunk (the unit the download streams). */
  chunkBytes: number;
}

export const DEFAULT_BILLING_EXPORT_OPTIONS: BillingExportOptions = {
  batchSize: 5000,
  chunkBytes: 1024 * 1024,
};

export type ExportOutcome =
  | { outcome: 'done'; rowCount: number; bytes: string; sha256: string }
  | { outcome: 'skipped' }
  | { outcome: 'superseded' }
  | { outcome: 'failed'; error: string };

/**
 * The `billing.export` job: a closed period's lines are read in line order a batch at a time,
 * formatted (SettlementFiles), hashed (SHA-256, incrementally) and appended to the export's chunks
 * in PostgreSQL with the progress; nothing holds the period in memory. The file has no timestamp in
 * it, so the same closed period always gives the same bytes. A redelivered job restarts the run from
 * scratch (new run number, chunks deleted) and an older run still writing is fenced out by that number.
 */
export class RunBillingExportUseCase {
  private readonly options: BillingExportOptions;

  constructor(
    private readonly exports: BillingExportRepository,
    private readonly periods: BillingPeriodRepository,
    private readonly files: SettlementFiles,
    private readonly logger: BillingExportLogger,
    options: Partial<BillingExportOptions> = {},
  ) {
    this.options = { ...DEFAULT_BILLING_EXPORT_OPTIONS, ...options };
  }

  /**
   * Runs the export unless it is done or failed. On the job's last attempt a failure marks the
   * export failed (with the reason) instead of leaving it running; so does, at once, a failure
   * another attempt would only repeat (a domain rule such as an XLSX's row limit, or a ZIP limit).
   */
  async execute(exportId: string, attempt: number): Promise<ExportOutcome> {
    const lastAttempt = attempt >= jobOptionsFor({ name: 'billing.export', data: { exportId } }).attempts;
    try {
      return await this.export(exportId);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const permanent = isDomainError(error) || this.files.isPermanent(error);
      if (!lastAttempt && !permanent) throw error;
      await this.exports.fail(exportId, message);
      this.logger.error({ exportId, err: message }, 'billing export failed');
      return { outcome: 'failed', error: message };
    }
  }

  /** One run of the export (no failure marking: `execute` decides that). */
  async export(exportId: string): Promise<ExportOutcome> {
    const run = await this.exports.startRun(exportId);
    if (run === null) return { outcome: 'skipped' };
    const format = this.files.formatOf(run.format);
    if (format === undefined) {
      return this.refuse(run, `Export format ${run.format} has no writer in this deployment.`);
    }
    const period = await this.periods.find(run.period);
    if (period?.status !== 'closed') {
      return this.refuse(
        run,
        `Billing period ${run.period} is not closed; only closed periods are exported.`,
      );
    }
    try {
      return await this.write(run, format);
    } catch (error) {
      if (error instanceof ExportRunSuperseded) return { outcome: 'superseded' };
      throw error;
    }
  }

  private async refuse(run: ExportRun, error: string): Promise<ExportOutcome> {
    await this.exports.fail(run.exportId, error);
    return { outcome: 'failed', error };
  }

  private async write(run: ExportRun, format: SettlementFileFormat): Promise<ExportOutcome> {
    const started = Date.now();
    const expected = await this.exports.countLines(run);
    const hash = createHash('sha256');
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let bytes = 0n;
    let seq = 0;
    let rows = 0;
    let totals: PricedAmounts = zeroAmounts();
    const progress = (): number => (expected === 0 ? 99 : Math.min(99, Math.floor((rows * 100) / expected)));
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const data = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await this.exports.appendChunk(run, seq, data, progress());
      seq += 1;
    };
    const emit = async (piece: Buffer): Promise<void> => {
      if (piece.length === 0) return;
      hash.update(piece);
      bytes += BigInt(piece.length);
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes >= this.options.chunkBytes) await flush();
    };

    const file = format.open(emit, { period: run.period });
    for await (const batch of this.exports.lineBatches(run, this.options.batchSize)) {
      for (const line of batch) {
        await file.line(line, rows);
        rows += 1;
      }
      totals = sumAmounts([totals, ...batch.map(amountsOf)]);
    }
    await file.end(rows);
    await flush();
    const sha256 = hash.digest('hex');
    const finished = await this.exports.finish(run, {
      rowCount: rows,
      totals: amountsJson(totals),
      sha256,
      bytes,
    });
    if (!finished) return { outcome: 'superseded' };
    this.logger.info(
      { exportId: run.exportId, period: run.period, rows, bytes: bytes.toString(), ms: Date.now() - started },
      'billing export done',
    );
    return { outcome: 'done', rowCount: rows, bytes: bytes.toString(), sha256 };
  }
}

/**
 * `reconcile.exports`: exports still queued or running after the grace get their job again unless
 * one is live (an export row is the outbox; Redis may have lost the job).
 */
@Injectable()
export class SweepBillingExportsUseCase {
  private static readonly LIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

  constructor(
    private readonly exports: BillingExportRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(graceMs: number, now = new Date()): Promise<{ requeued: number }> {
    const ids = await this.exports.unfinished(new Date(now.getTime() - graceMs));
    const queue = this.producer.queue('exports');
    const jobs: JobItem[] = [];
    for (const exportId of ids) {
      const job: JobItem = { name: 'billing.export', data: { exportId } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        if (SweepBillingExportsUseCase.LIVE.has(await existing.getState())) continue;
        await existing.remove().catch(() => undefined);
      }
      jobs.push(job);
    }
    if (jobs.length > 0) await this.producer.enqueueMany(jobs);
    return { requeued: jobs.length };
  }
}
