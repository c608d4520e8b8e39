import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Tx } from '../transaction.js';

/** One thing the reconciler found that does not add up. */
export interface Drift {
  kind: 'account_balance' | 'usage_rollup' | 'usage_posting';
  subject: string;
  /** What the stored figure says. */
  stored: string;
  /** What recomputing from the facts gives. */
  recomputed: string;
}

export interface ReconciliationReport {
  id: string;
  createdAt: Date;
  durationMs: number;
  accountsChecked: number;
  accountDrifts: number;
  rollupsChecked: number;
  rollupDrifts: number;
  usageDrifts: number;
  /** At most 100, the rest are counted only. */
  drifts: Drift[];
}

/** What the recomputation found, per check: how many subjects it checked and what drifted. */
export interface DriftCheck {
  checked: number;
  drifts: Drift[];
}

export interface FoundDrifts {
  accounts: DriftCheck;
  rollups: DriftCheck;
  usage: DriftCheck;
}

/**
 * The reconciler's reads and its reports. The checks recompute what is stored from the facts it
 * derives from:
 * - every account balance against the sum of its ledger entries (invariant 1);
 * - every daily rollup against its usage records, split at Asia/Seoul midnights by the metering rule
 *   (whole seconds from the second the record started in: see splitUsageByDay in libs/domain);
 * - per allocation, the usage postings (consume transactions `usage:*`) against the sum of its posted
 *   records (invariant 4: each record counted once).
 */
export abstract class UsageReconciliationRepository {
  /** The three checks, read-only; run them in one REPEATABLE READ snapshot. */
  abstract findDrifts(tx: Tx): Promise<FoundDrifts>;
  abstract saveReport(report: Omit<ReconciliationReport, 'id' | 'createdAt'>): Promise<ReconciliationReport>;
  /** The latest report, or null before the first run. */
  abstract latest(): Promise<ReconciliationReport | null>;
}

@Injectable()
export class TypeormUsageReconciliationRepository extends UsageReconciliationRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async findDrifts(tx: Tx): Promise<FoundDrifts> {
    const accounts = await accountDrifts(tx);
    const rollups = await rollupDrifts(tx);
    const usage = await postingDrifts(tx);
    return { accounts, rollups, usage };
  }

  override async saveReport(
    report: Omit<ReconciliationReport, 'id' | 'createdAt'>,
  ): Promise<ReconciliationReport> {
    const rows = await this.dataSource.query<{ id: string; created_at: Date }[]>(
      `INSERT INTO reconciliation_reports
         (duration_ms, accounts_checked, account_drifts, rollups_checked, rollup_drifts, usage_drifts, drifts)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id, created_at`,
      [
        report.durationMs,
        report.accountsChecked,
        report.accountDrifts,
        report.rollupsChecked,
        report.rollupDrifts,
        report.usageDrifts,
        JSON.stringify(report.drifts),
      ],
    );
    return { id: rows[0].id, createdAt: new Date(rows[0].created_at), ...report };
  }

  override async latest(): Promise<ReconciliationReport | null> {
    const rows = await this.dataSource.query<
      {
        id: string;
        created_at: Date;
        duration_ms: number;
        accounts_checked: number;
        account_drifts: number;
        rollups_checked: number;
        rollup_drifts: number;
        usage_drifts: number;
        drifts: Drift[];
      }[]
    >('SELECT * FROM reconciliation_reports ORDER BY id DESC LIMIT 1');
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id,
      createdAt: new Date(row.created_at),
      durationMs: row.duration_ms,
      accountsChecked: row.accounts_checked,
      accountDrifts: row.account_drifts,
      rollupsChecked: row.rollups_checked,
      rollupDrifts: row.rollup_drifts,
      usageDrifts: row.usage_drifts,
      drifts: row.drifts,
    };
  }
}

async function accountDrifts(manager: EntityManager): Promise<DriftCheck> {
  const rows = await manager.query<{ account: string; stored: string | null; recomputed: string | null }[]>(
    `WITH sums AS (SELECT account, sum(amount) AS balance FROM ledger_entries GROUP BY account)
     SELECT coalesce(s.account, b.account) AS account, b.balance::text AS stored, s.balance::text AS recomputed
       FROM sums s FULL JOIN account_balances b ON b.account = s.account
      WHERE b.balance IS DISTINCT FROM s.balance
      ORDER BY 1`,
  );
  const checked = await manager.query<{ n: number }[]>(
    'SELECT count(*)::int AS n FROM (SELECT DISTINCT account FROM ledger_entries) a',
  );
  return {
    checked: checked[0]?.n ?? 0,
    drifts: rows.map((row) => ({
      kind: 'account_balance' as const,
      subject: row.account,
      stored: row.stored ?? '(missing)',
      recomputed: row.recomputed ?? '(no entries)',
    })),
  };
}

/**
 * Recomputes (allocation, Seoul day) sums from posted records. A record's metered seconds are
 * ceil((ended − started) / 1 s), laid from floor(started) on; each day takes its overlap × gpus.
 */
async function rollupDrifts(manager: EntityManager): Promise<DriftCheck> {
  const rows = await manager.query<
    { allocation_id: string; day: string; stored: string | null; recomputed: string | null }[]
  >(
    `WITH spans AS (
       SELECT u.allocation_id, u.gpus,
              floor(extract(epoch FROM u.started_at))::bigint AS s0,
              floor(extract(epoch FROM u.started_at))::bigint
                + ceil(extract(epoch FROM (u.ended_at - u.started_at)))::bigint AS s1
         FROM usage_records u JOIN usage_batches b ON b.id = u.batch_id
        WHERE b.posted_at IS NOT NULL
     ),
     pieces AS (
       SELECT allocation_id, g.d0::date AS day,
              gpus * (least(s1, extract(epoch FROM g.d0 + interval '1 day' - interval '9 hours')::bigint)
                    - greatest(s0, extract(epoch FROM g.d0 - interval '9 hours')::bigint)) AS gpu_seconds
         FROM spans,
              generate_series(((to_timestamp(s0) AT TIME ZONE 'Asia/Seoul')::date)::timestamp,
                              ((to_timestamp(s1 - 1) AT TIME ZONE 'Asia/Seoul')::date)::timestamp,
                              interval '1 day') AS g(d0)
     ),
     recomputed AS (
       SELECT allocation_id, day, sum(gpu_seconds) AS gpu_seconds FROM pieces
        WHERE gpu_seconds > 0 GROUP BY allocation_id, day
     )
     SELECT coalesce(r.allocation_id, d.allocation_id) AS allocation_id,
            to_char(coalesce(r.day, d.day), 'YYYY-MM-DD') AS day,
            d.gpu_seconds::text AS stored, r.gpu_seconds::text AS recomputed
       FROM recomputed r FULL JOIN usage_daily d ON d.allocation_id = r.allocation_id AND d.day = r.day
      WHERE d.gpu_seconds IS DISTINCT FROM r.gpu_seconds
      ORDER BY 1, 2`,
  );
  const checked = await manager.query<{ n: number }[]>('SELECT count(*)::int AS n FROM usage_daily');
  return {
    checked: checked[0]?.n ?? 0,
    drifts: rows.map((row) => ({
      kind: 'usage_rollup' as const,
      subject: `${row.allocation_id} ${row.day}`,
      stored: row.stored ?? '(missing)',
      recomputed: row.recomputed ?? '(no records)',
    })),
  };
}

/** Σ usage postings into consumed:<allocation> = Σ gpu_seconds of its posted records. */
async function postingDrifts(manager: EntityManager): Promise<DriftCheck> {
  const rows = await manager.query<
    { allocation_id: string; stored: string | null; recomputed: string | null }[]
  >(
    `WITH posted AS (
       SELECT substr(e.account, length('consumed:') + 1)::uuid AS allocation_id, sum(e.amount) AS gpu_seconds
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE t.kind = 'consume' AND t.idempotency_key LIKE 'usage:%' AND e.account LIKE 'consumed:%'
        GROUP BY e.account
     ),
     recorded AS (
       SELECT u.allocation_id, sum(u.gpu_seconds) AS gpu_seconds
         FROM usage_records u JOIN usage_batches b ON b.id = u.batch_id
        WHERE b.posted_at IS NOT NULL GROUP BY u.allocation_id
     )
     SELECT coalesce(p.allocation_id, r.allocation_id)::text AS allocation_id,
            p.gpu_seconds::text AS stored, r.gpu_seconds::text AS recomputed
       FROM posted p FULL JOIN recorded r ON r.allocation_id = p.allocation_id
      WHERE p.gpu_seconds IS DISTINCT FROM r.gpu_seconds
      ORDER BY 1`,
  );
  const checked = await manager.query<{ n: number }[]>(
    'SELECT count(DISTINCT allocation_id)::int AS n FROM usage_records',
  );
  return {
    checked: checked[0]?.n ?? 0,
    drifts: rows.map((row) => ({
      kind: 'usage_posting' as const,
      subject: row.allocation_id,
      stored: row.stored ?? '(not posted)',
      recomputed: row.recomputed ?? '(no records)',
    })),
  };
}
