import { Injectable } from '@nestjs/common';
import { DataSource, type SelectQueryBuilder } from 'typeorm';
import { BillingExportEntity, BillingLineEntity } from '../entities/billing.entities.js';
import { decodeCursor, encodeCursor, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { updateReturning } from './billing-sql.js';

export const BILLING_EXPORT_FORMATS = ['csv', 'json', 'xlsx'] as const;
export type BillingExportFormat = (typeof BILLING_EXPORT_FORMATS)[number];

/** How a stored export file is served. */
export const BILLING_EXPORT_MEDIA: Readonly<
  Record<BillingExportFormat, { contentType: string; extension: string }>
> = {
  csv: { contentType: 'text/csv; charset=utf-8', extension: 'csv' },
  json: { contentType: 'application/json; charset=utf-8', extension: 'json' },
  xlsx: {
    contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    extension: 'xlsx',
  },
};

/** Which lines an export holds: a closed period, optionally one agency or one program. */
export interface BillingLineFilter {
  period: string;
  agencyCode: string | null;
  programId: string | null;
}

/** One run of an export job; `run` fences out an earlier run of the same export still writing. */
export interface ExportRun extends BillingLineFilter {
  exportId: string;
  run: number;
  format: string;
}

/** Raised when a newer run of the export took over: the older one stops writing. */
export class ExportRunSuperseded extends Error {
  override readonly name = 'ExportRunSuperseded';
}

/**
 * Starts (or restarts) an export: queued or running → running with a new run number, its chunks
 * deleted in the same transaction, so a redelivered job rewrites the file from scratch. A done or
 * failed export, or an unknown id, gives null: nothing to do.
 */
export async function startExportRun(dataSource: DataSource, exportId: string): Promise<ExportRun | null> {
  return dataSource.transaction(async (manager) => {
    const rows = await updateReturning<{
      attempts: number;
      period: string;
      agency_code: string | null;
      program_id: string | null;
      format: string;
    }>(
      manager,
      `UPDATE billing_exports
          SET status = 'running', attempts = attempts + 1, progress = 0, started_at = now(), finished_at = NULL,
              row_count = NULL, totals = NULL, sha256 = NULL, bytes = NULL, error = NULL
        WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING attempts, period, agency_code, program_id, format`,
      [exportId],
    );
    const row = rows[0];
    if (!row) return null;
    await manager.query('DELETE FROM billing_export_chunks WHERE export_id = $1', [exportId]);
    return {
      exportId,
      run: row.attempts,
      period: row.period,
      agencyCode: row.agency_code,
      programId: row.program_id,
      format: row.format,
    };
  });
}

/** Lines an export of `filter` holds, for progress. */
export async function countBillingLines(dataSource: DataSource, filter: BillingLineFilter): Promise<number> {
  return linesOf(dataSource, filter).getCount();
}

/**
 * A closed period's lines in line order, `batchSize` at a time (keyset on line_no over the period's
 * indexes): an export holds one batch in memory, never the period.
 */
export async function* billingLineBatches(
  dataSource: DataSource,
  filter: BillingLineFilter,
  batchSize = 5000,
): AsyncGenerator<BillingLineEntity[]> {
  let after = 0;
  for (;;) {
    const batch = await linesOf(dataSource, filter)
      .andWhere('l.lineNo > :after', { after })
      .orderBy('l.lineNo', 'ASC')
      .limit(batchSize)
      .getMany();
    const last = batch[batch.length - 1];
    if (!last) return;
    yield batch;
    if (batch.length < batchSize) return;
    after = last.lineNo;
  }
}

function linesOf(dataSource: DataSource, filter: BillingLineFilter): SelectQueryBuilder<BillingLineEntity> {
  const query = dataSource
    .getRepository(BillingLineEntity)
    .createQueryBuilder('l')
    .where('l.period = :period', { period: filter.period });
  if (filter.agencyCode !== null)
    query.andWhere('l.agencyCode = :agencyCode', { agencyCode: filter.agencyCode });
  if (filter.programId !== null) query.andWhere('l.programId = :programId', { programId: filter.programId });
  return query;
}

/**
 * Appends chunk `seq` of a run and records its progress, in one transaction that first locks the
 * export row for this run: a run that was superseded (a redelivered job restarted it) writes nothing
 * and gets ExportRunSuperseded.
 */
export async function appendExportChunk(
  dataSource: DataSource,
  run: ExportRun,
  seq: number,
  data: Buffer,
  progress: number,
): Promise<void> {
  await dataSource.transaction(async (manager) => {
    const owned = await updateReturning<{ id: string }>(
      manager,
      `UPDATE billing_exports SET progress = $3 WHERE id = $1 AND attempts = $2 AND status = 'running' RETURNING id`,
      [run.exportId, run.run, progress],
    );
    if (owned.length === 0)
      throw new ExportRunSuperseded(`export ${run.exportId} run ${run.run} was superseded`);
    await manager.query('INSERT INTO billing_export_chunks (export_id, seq, data) VALUES ($1, $2, $3)', [
      run.exportId,
      seq,
      data,
    ]);
  });
}

export interface ExportResult {
  rowCount: number;
  totals: unknown;
  sha256: string;
  bytes: bigint;
}

/** running → done with what the file holds; false when this run was superseded. */
export async function finishExport(
  dataSource: DataSource,
  run: ExportRun,
  result: ExportResult,
): Promise<boolean> {
  const rows = await updateReturning<{ id: string }>(
    dataSource.manager,
    `UPDATE billing_exports
        SET status = 'done', progress = 100, row_count = $3, totals = $4, sha256 = $5, bytes = $6, finished_at = now()
      WHERE id = $1 AND attempts = $2 AND status = 'running' RETURNING id`,
    [
      run.exportId,
      run.run,
      result.rowCount,
      JSON.stringify(result.totals),
      result.sha256,
      result.bytes.toString(),
    ],
  );
  return rows.length > 0;
}

/** queued | running → failed, with the reason; its chunks are dropped. */
export async function failExport(dataSource: DataSource, exportId: string, error: string): Promise<void> {
  await dataSource.transaction(async (manager) => {
    const rows = await updateReturning<{ id: string }>(
      manager,
      `UPDATE billing_exports SET status = 'failed', error = $2, finished_at = now()
        WHERE id = $1 AND status IN ('queued', 'running') RETURNING id`,
      [exportId, error.slice(0, 2000)],
    );
    if (rows.length > 0)
      await manager.query('DELETE FROM billing_export_chunks WHERE export_id = $1', [exportId]);
  });
}

/** The stored file, chunk by chunk in order (one chunk in memory at a time). */
export async function* exportChunks(dataSource: DataSource, exportId: string): AsyncGenerator<Buffer> {
  let after = -1;
  for (;;) {
    const rows = await dataSource.query<{ seq: number; data: Buffer }[]>(
      'SELECT seq, data FROM billing_export_chunks WHERE export_id = $1 AND seq > $2 ORDER BY seq LIMIT 1',
      [exportId, after],
    );
    const row = rows[0];
    if (!row) return;
    yield row.data;
    after = row.seq;
  }
}

/** Exports queued or running for longer than `olderThan`: the sweep re-enqueues them (Redis may have lost the job). */
export async function unfinishedExports(
  dataSource: DataSource,
  olderThan: Date,
  limit = 100,
): Promise<string[]> {
  const rows = await dataSource.query<{ id: string }[]>(
    `SELECT id FROM billing_exports
      WHERE status IN ('queued', 'running') AND coalesce(started_at, requested_at) < $1
      ORDER BY requested_at LIMIT $2`,
    [olderThan, limit],
  );
  return rows.map((row) => row.id);
}

export interface NewBillingExport extends BillingLineFilter {
  format: BillingExportFormat;
  createdBy: string;
}

/** Which exports a list covers: `agencyCode` null is every agency's. */
export interface BillingExportListFilter {
  agencyCode: string | null;
  period?: string;
  status?: string;
}

/**
 * Settlement exports: the rows the API requests and reads, and the runs the scheduler's job writes
 * (SQL only; the functions above are its TypeORM implementation).
 */
export abstract class BillingExportRepository {
  abstract agencyExists(agencyCode: string): Promise<boolean>;
  /** Inserts a queued export and returns its id. */
  abstract insert(tx: Tx, request: NewBillingExport): Promise<string>;
  abstract find(exportId: string): Promise<BillingExportEntity | null>;
  /** Newest requested first, keyset on (requested_at, id). */
  abstract page(filter: BillingExportListFilter, page: PageQuery): Promise<Page<BillingExportEntity>>;
  abstract chunks(exportId: string): AsyncGenerator<Buffer>;
  abstract startRun(exportId: string): Promise<ExportRun | null>;
  abstract countLines(filter: BillingLineFilter): Promise<number>;
  abstract lineBatches(filter: BillingLineFilter, batchSize: number): AsyncGenerator<BillingLineEntity[]>;
  abstract appendChunk(run: ExportRun, seq: number, data: Buffer, progress: number): Promise<void>;
  abstract finish(run: ExportRun, result: ExportResult): Promise<boolean>;
  abstract fail(exportId: string, error: string): Promise<void>;
  abstract unfinished(olderThan: Date, limit?: number): Promise<string[]>;
}

@Injectable()
export class TypeormBillingExportRepository extends BillingExportRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async agencyExists(agencyCode: string): Promise<boolean> {
    const [agency] = await this.dataSource.query<{ code: string }[]>(
      'SELECT code FROM agencies WHERE code = $1',
      [agencyCode],
    );
    return agency !== undefined;
  }

  override async insert(tx: Tx, request: NewBillingExport): Promise<string> {
    const row = await tx.getRepository(BillingExportEntity).save({ ...request, status: 'queued' });
    return row.id;
  }

  override find(exportId: string): Promise<BillingExportEntity | null> {
    return this.dataSource.getRepository(BillingExportEntity).findOne({ where: { id: exportId } });
  }

  override async page(filter: BillingExportListFilter, page: PageQuery): Promise<Page<BillingExportEntity>> {
    const builder = this.dataSource.getRepository(BillingExportEntity).createQueryBuilder('e');
    if (filter.agencyCode !== null)
      builder.andWhere('e.agency_code = :scopeAgency', { scopeAgency: filter.agencyCode });
    if (filter.period !== undefined) builder.andWhere('e.period = :period', { period: filter.period });
    if (filter.status !== undefined) builder.andWhere('e.status = :status', { status: filter.status });
    const position = decodeCursor(page.cursor);
    if (position) {
      builder.andWhere('(e.requested_at, e.id) < (CAST(:cursorAt AS timestamptz), CAST(:cursorId AS uuid))', {
        cursorAt: position.createdAt.toISOString(),
        cursorId: position.id,
      });
    }
    const rows = await builder
      .orderBy('e.requested_at', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .limit(page.limit + 1)
      .getMany();
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return {
      items,
      nextCursor:
        rows.length > page.limit && last ? encodeCursor({ createdAt: last.requestedAt, id: last.id }) : null,
    };
  }

  override chunks(exportId: string): AsyncGenerator<Buffer> {
    return exportChunks(this.dataSource, exportId);
  }

  override startRun(exportId: string): Promise<ExportRun | null> {
    return startExportRun(this.dataSource, exportId);
  }

  override countLines(filter: BillingLineFilter): Promise<number> {
    return countBillingLines(this.dataSource, filter);
  }

  override lineBatches(filter: BillingLineFilter, batchSize: number): AsyncGenerator<BillingLineEntity[]> {
    return billingLineBatches(this.dataSource, filter, batchSize);
  }

  override appendChunk(run: ExportRun, seq: number, data: Buffer, progress: number): Promise<void> {
    return appendExportChunk(this.dataSource, run, seq, data, progress);
  }

  override finish(run: ExportRun, result: ExportResult): Promise<boolean> {
    return finishExport(this.dataSource, run, result);
  }

  override fail(exportId: string, error: string): Promise<void> {
    return failExport(this.dataSource, exportId, error);
  }

  override unfinished(olderThan: Date, limit?: number): Promise<string[]> {
    return unfinishedExports(this.dataSource, olderThan, limit);
  }
}
