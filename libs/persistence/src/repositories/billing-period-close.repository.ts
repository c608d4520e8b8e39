import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { BillingPeriodState } from '#domain';
import type { Tx } from '../transaction.js';
import {
  checkBillingPeriodClosable,
  closeBillingPeriod,
  type ClosedPeriodSummary,
} from './billing-close.repository.js';

export type BillingCloseStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** What a succeeded close reports (JSON: bigints as decimal strings). */
export interface BillingCloseResult {
  lineCount: number;
  correctionLines: number;
  chargedPieces: number;
  creditedPieces: number;
  refundedGpuSeconds: string;
  /** Whether this close closed the period (false: it was already closed when the job ran). */
  closedByThisRecord: boolean;
}

/** One requested close of a billing period (a row of billing_period_closes). */
export interface BillingCloseRecord {
  id: string;
  period: string;
  status: BillingCloseStatus;
  /** queued → closing (the job holds the close open) → done | failed. */
  phase: string;
  requestedBy: string;
  requestId: string | null;
  attempts: number;
  errorCode: string | null;
  errorMessage: string | null;
  result: BillingCloseResult | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** The close records (SQL only: what a close may do is decided by the billing use cases). */
export abstract class BillingCloseRepository {
  /** Inserts a queued close unless one of the period is queued or running; returns the active one. */
  abstract requestClose(
    tx: Tx,
    input: { period: string; requestedBy: string; requestId: string | null },
  ): Promise<{ record: BillingCloseRecord; created: boolean }>;
  abstract findById(id: string, tx?: Tx): Promise<BillingCloseRecord | null>;
  /** The period's newest close record. */
  abstract latestOf(period: string): Promise<BillingCloseRecord | null>;
  /** Locks the record and marks it running (one more attempt); null when it is not queued/running. */
  abstract startAttempt(id: string): Promise<BillingCloseRecord | null>;
  abstract markSucceeded(tx: Tx, id: string, result: BillingCloseResult): Promise<void>;
  abstract markFailed(id: string, error: { code: string; message: string }): Promise<void>;
  /** Ids of closes queued or running since before `olderThan` (their job may be lost). */
  abstract unfinished(olderThan: Date): Promise<string[]>;
}

/** The billing period's state, and the atomic close itself (libs/persistence billing-close). */
export abstract class BillingPeriodCloser {
  /** 409/422 errors a request can be refused with before any job runs; the period's state. */
  abstract checkClosable(period: string, now?: Date): Promise<BillingPeriodState>;
  abstract stateOf(period: string): Promise<BillingPeriodState>;
  /** The whole close in one transaction; `beforeCommit` runs inside it. */
  abstract close(input: {
    period: string;
    closedBy: string | null;
    beforeCommit: (tx: Tx, summary: ClosedPeriodSummary) => Promise<void>;
  }): Promise<ClosedPeriodSummary>;
}

interface CloseRow {
  id: string;
  period: string;
  status: BillingCloseStatus;
  phase: string;
  requested_by: string;
  request_id: string | null;
  attempts: number;
  error_code: string | null;
  error_message: string | null;
  result: BillingCloseResult | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const CLOSE_COLUMNS =
  'id, period, status, phase, requested_by, request_id, attempts, error_code, error_message, result, created_at, started_at, finished_at';

function recordOf(row: CloseRow): BillingCloseRecord {
  return {
    id: row.id,
    period: row.period,
    status: row.status,
    phase: row.phase,
    requestedBy: row.requested_by,
    requestId: row.request_id,
    attempts: row.attempts,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    result: row.result,
    createdAt: new Date(row.created_at),
    startedAt: row.started_at ? new Date(row.started_at) : null,
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
  };
}

@Injectable()
export class TypeormBillingCloseRepository extends BillingCloseRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async requestClose(
    tx: Tx,
    input: { period: string; requestedBy: string; requestId: string | null },
  ): Promise<{ record: BillingCloseRecord; created: boolean }> {
    const inserted = await tx.query<CloseRow[]>(
      `INSERT INTO billing_period_closes (period, status, phase, requested_by, request_id)
       VALUES ($1, 'queued', 'queued', $2, $3)
       ON CONFLICT (period) WHERE status IN ('queued', 'running') DO NOTHING
       RETURNING ${CLOSE_COLUMNS}`,
      [input.period, input.requestedBy, input.requestId],
    );
    if (inserted[0]) return { record: recordOf(inserted[0]), created: true };
    const [active] = await tx.query<CloseRow[]>(
      `SELECT ${CLOSE_COLUMNS} FROM billing_period_closes WHERE period = $1 AND status IN ('queued', 'running')`,
      [input.period],
    );
    if (!active) throw new Error(`close of ${input.period}: neither inserted nor active`);
    return { record: recordOf(active), created: false };
  }

  override async findById(id: string, tx?: Tx): Promise<BillingCloseRecord | null> {
    const [row] = await (tx ?? this.dataSource.manager).query<CloseRow[]>(
      `SELECT ${CLOSE_COLUMNS} FROM billing_period_closes WHERE id = $1`,
      [id],
    );
    return row ? recordOf(row) : null;
  }

  override async latestOf(period: string): Promise<BillingCloseRecord | null> {
    const [row] = await this.dataSource.query<CloseRow[]>(
      `SELECT ${CLOSE_COLUMNS} FROM billing_period_closes WHERE period = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [period],
    );
    return row ? recordOf(row) : null;
  }

  override async startAttempt(id: string): Promise<BillingCloseRecord | null> {
    const [rows] = await this.dataSource.query<[CloseRow[], number]>(
      `UPDATE billing_period_closes
          SET status = 'running', phase = 'closing', attempts = attempts + 1, started_at = coalesce(started_at, now())
        WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING ${CLOSE_COLUMNS}`,
      [id],
    );
    return rows[0] ? recordOf(rows[0]) : null;
  }

  override async markSucceeded(tx: Tx, id: string, result: BillingCloseResult): Promise<void> {
    await tx.query(
      `UPDATE billing_period_closes
          SET status = 'succeeded', phase = 'done', result = $2, finished_at = now(), error_code = NULL, error_message = NULL
        WHERE id = $1`,
      [id, JSON.stringify(result)],
    );
  }

  override async markFailed(id: string, error: { code: string; message: string }): Promise<void> {
    await this.dataSource.query(
      `UPDATE billing_period_closes
          SET status = 'failed', phase = 'failed', error_code = $2, error_message = $3, finished_at = now()
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id, error.code, error.message.slice(0, 2000)],
    );
  }

  override async unfinished(olderThan: Date): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM billing_period_closes
        WHERE status IN ('queued', 'running') AND coalesce(started_at, created_at) < $1
        ORDER BY created_at LIMIT 100`,
      [olderThan],
    );
    return rows.map((row) => row.id);
  }
}

@Injectable()
export class TypeormBillingPeriodCloser extends BillingPeriodCloser {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override checkClosable(period: string, now?: Date): Promise<BillingPeriodState> {
    return checkBillingPeriodClosable(this.dataSource.manager, period, now);
  }

  override async stateOf(period: string): Promise<BillingPeriodState> {
    const [row] = await this.dataSource.query<{ status: BillingPeriodState }[]>(
      'SELECT status FROM billing_periods WHERE period = $1',
      [period],
    );
    return row?.status ?? 'open';
  }

  override close(input: {
    period: string;
    closedBy: string | null;
    beforeCommit: (tx: Tx, summary: ClosedPeriodSummary) => Promise<void>;
  }): Promise<ClosedPeriodSummary> {
    return closeBillingPeriod(this.dataSource, input);
  }
}
