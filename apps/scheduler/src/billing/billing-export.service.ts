import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { isDomainError, sumAmounts, zeroAmounts, type PricedAmounts } from '#domain';
import {
  amountsJson,
  amountsOf,
  appendExportChunk,
  billingLineBatches,
  countBillingLines,
  ExportRunSuperseded,
  failExport,
  finishExport,
  startExportRun,
  unfinishedExports,
  type ExportRun,
} from '#persistence';
import { jobOptionsFor, type JobItem, type JobProducer } from '#queues';
import type { Logger } from '../logger.js';
import { settlementFormat, type SettlementFormat } from './settlement-format.js';

export interface BillingExportOptions {
  /** Lines read per query (keyset on line_no). */
  batchSize: number;
  /** Bytes per stored chunk (the unit the download streams). */
  chunkBytes: number;
  /** An export queued or running this long is re-enqueued by the sweep, in case Redis lost its job. */
  sweepGraceMs: number;
}

export const DEFAULT_BILLING_EXPORT_OPTIONS: BillingExportOptions = {
  batchSize: 5000,
  chunkBytes: 1024 * 1024,
  sweepGraceMs: 5000,
};

export type ExportOutcome =
  | { outcome: 'done'; rowCount: number; bytes: string; sha256: string }
  | { outcome: 'skipped' }
  | { outcome: 'superseded' }
  | { outcome: 'failed'; error: string };

const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Settlement exports (`billing.export`): a closed period's lines are read in line order a batch at a
 * time, formatted (CSV, JSON, or XLSX: written row by row with exceljs's streaming writer),
 * hashed (SHA-256, incrementally) and appended to the export's chunks in PostgreSQL with the
 * progress; nothing holds the period in memory. The file has no wall-clock time in it (an XLSX's times are
 * the period's end), so the same closed period always gives the same bytes. A redelivered job restarts the run from scratch (new run
 * number, chunks deleted) and an older run still writing is fenced out by that number.
 */
export class BillingExportService {
  private readonly options: BillingExportOptions;

  constructor(
    private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    options: Partial<BillingExportOptions> = {},
  ) {
    this.options = { ...DEFAULT_BILLING_EXPORT_OPTIONS, ...options };
  }

  /**
   * The job: runs the export unless it is done or failed. On the job's last attempt a failure marks
   * the export failed (with the reason) instead of leaving it running; so does, at once, a failure
   * another attempt would only repeat (a domain rule such as an XLSX's row limit).
   */
  async handle(exportId: string, attempt: number): Promise<ExportOutcome> {
    const lastAttempt = attempt >= jobOptionsFor({ name: 'billing.export', data: { exportId } }).attempts;
    try {
      return await this.export(exportId);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const permanent = isDomainError(error);
      if (!lastAttempt && !permanent) throw error;
      await failExport(this.dataSource, exportId, message);
      this.logger.error({ exportId, err: message }, 'billing export failed');
      return { outcome: 'failed', error: message };
    }
  }

  async export(exportId: string): Promise<ExportOutcome> {
    const run = await startExportRun(this.dataSource, exportId);
    if (run === null) return { outcome: 'skipped' };
    const format = settlementFormat(run.format);
    if (format === undefined) {
      return this.refuse(run, `Export format ${run.format} has no writer in this deployment.`);
    }
    const [period] = await this.dataSource.query<{ status: string }[]>(
      'SELECT status FROM billing_periods WHERE period = $1',
      [run.period],
    );
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
    await failExport(this.dataSource, run.exportId, error);
    return { outcome: 'failed', error };
  }

  private async write(run: ExportRun, format: SettlementFormat): Promise<ExportOutcome> {
    const started = Date.now();
    const expected = await countBillingLines(this.dataSource, run);
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
      await appendExportChunk(this.dataSource, run, seq, data, progress());
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
    for await (const batch of billingLineBatches(this.dataSource, run, this.options.batchSize)) {
      for (const line of batch) {
        await file.line(line, rows);
        rows += 1;
      }
      totals = sumAmounts([totals, ...batch.map(amountsOf)]);
    }
    await file.end(rows);
    await flush();
    const sha256 = hash.digest('hex');
    const finished = await finishExport(this.dataSource, run, {
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

  /**
   * `reconcile.exports`: exports still queued or running after the grace get their job again unless
   * one is live (an export row is the outbox; Redis may have lost the job).
   */
  async sweep(now = new Date()): Promise<{ requeued: number }> {
    const ids = await unfinishedExports(this.dataSource, new Date(now.getTime() - this.options.sweepGraceMs));
    const queue = this.producer.queue('exports');
    const jobs: JobItem[] = [];
    for (const exportId of ids) {
      const job: JobItem = { name: 'billing.export', data: { exportId } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        if (LIVE_JOB_STATES.has(await existing.getState())) continue;
        await existing.remove().catch(() => undefined);
      }
      jobs.push(job);
    }
    if (jobs.length > 0) {
      await this.producer.enqueueMany(jobs);
      this.logger.info({ requeued: jobs.length }, 'billing export sweep re-enqueued exports');
    }
    return { requeued: jobs.length };
  }
}
