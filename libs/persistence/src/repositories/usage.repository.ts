import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  usageRecordKey,
  type AttemptHold,
  type DailyUsageBucket,
  type HoldUpdate,
  type PostedAllocation,
  type PostingRecord,
  type StoredUsageRecord,
  type UsageAllocationFacts,
  type UsageWorkloadFacts,
  type AllocationReadScope,
} from '#domain';
import { UsageBatchEntity } from '../entities/usage.entities.js';
import type { Tx } from '../transaction.js';
import { allocationReadSql } from './allocation.repository.js';

/** A usage batch as its sender may look it up. */
export interface UsageBatchView {
  id: string;
  recordCount: number;
  acceptedCount: number;
  receivedAt: Date;
  postedAt: Date | null;
}

/** Usage batches and their records: what ingestion stores and the validation reads. */
export abstract class UsageBatchRepository {
  /** Allocations the records name, for validation (unknown ids are absent). */
  abstract allocationFacts(allocationIds: string[]): Promise<Map<string, UsageAllocationFacts>>;
  /** Workloads the records name, for validation (unknown ids are absent). */
  abstract workloadFacts(workloadIds: string[]): Promise<Map<string, UsageWorkloadFacts>>;
  /** A new batch row with nothing accepted yet; returns its id. */
  abstract insertBatch(tx: Tx, tokenId: string | null, recordCount: number): Promise<string>;
  /**
   * Every record in one INSERT … ON CONFLICT DO NOTHING on (source, external_id), in key order;
   * returns the keys (usageRecordKey) the insert wrote.
   */
  abstract insertRecords(
    tx: Tx,
    batchId: string,
    records: readonly StoredUsageRecord[],
  ): Promise<Set<string>>;
  /** What is stored under the records' keys, by usageRecordKey. */
  abstract storedRecords(
    tx: Tx,
    records: readonly StoredUsageRecord[],
  ): Promise<Map<string, StoredUsageRecord>>;
  abstract setAcceptedCount(tx: Tx, batchId: string, acceptedCount: number): Promise<void>;
  abstract deleteBatch(tx: Tx, batchId: string): Promise<void>;
  abstract findBatch(batchId: string): Promise<UsageBatchView | null>;
  /** Batches stored before `receivedBefore` and still not posted, oldest first. */
  abstract unpostedBatchIds(receivedBefore: Date, limit: number): Promise<string[]>;
}

@Injectable()
export class TypeormUsageBatchRepository extends UsageBatchRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async allocationFacts(allocationIds: string[]): Promise<Map<string, UsageAllocationFacts>> {
    const rows = await this.dataSource.query<
      { id: string; gpu_model: string; starts_at: Date; ends_at: Date; status: string }[]
    >('SELECT id, gpu_model, starts_at, ends_at, status FROM allocations WHERE id = ANY($1::uuid[])', [
      allocationIds,
    ]);
    return new Map(
      rows.map((row) => [
        row.id,
        {
          allocationId: row.id,
          gpuModel: row.gpu_model,
          startsAt: new Date(row.starts_at),
          endsAt: new Date(row.ends_at),
          status: row.status,
        },
      ]),
    );
  }

  override async workloadFacts(workloadIds: string[]): Promise<Map<string, UsageWorkloadFacts>> {
    if (workloadIds.length === 0) return new Map();
    const rows = await this.dataSource.query<{ id: string; allocation_id: string }[]>(
      'SELECT id, allocation_id FROM workloads WHERE id = ANY($1::uuid[])',
      [workloadIds],
    );
    return new Map(rows.map((row) => [row.id, { id: row.id, allocationId: row.allocation_id }]));
  }

  override async insertBatch(tx: Tx, tokenId: string | null, recordCount: number): Promise<string> {
    const batch = await tx.query<{ id: string }[]>(
      `INSERT INTO usage_batches (token_id, record_count, accepted_count) VALUES ($1, $2, 0) RETURNING id`,
      [tokenId, recordCount],
    );
    return batch[0].id;
  }

  override async insertRecords(
    tx: Tx,
    batchId: string,
    records: readonly StoredUsageRecord[],
  ): Promise<Set<string>> {
    const inserted = await tx.query<{ source: string; external_id: string }[]>(
      `INSERT INTO usage_records
         (batch_id, source, external_id, allocation_id, workload_id, gpu_model, gpus, started_at, ended_at, gpu_seconds,
          late, attempt)
       SELECT $1, r.* FROM unnest($2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::int[],
                                  $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::boolean[], $12::int[])
              AS r(source, external_id, allocation_id, workload_id, gpu_model, gpus, started_at, ended_at,
                   gpu_seconds, late, attempt)
        -- Key order: two batches sharing keys wait on each other in one order, never deadlock.
        ORDER BY r.source, r.external_id
       ON CONFLICT (source, external_id) DO NOTHING
       RETURNING source, external_id`,
      [
        batchId,
        records.map((r) => r.source),
        records.map((r) => r.externalId),
        records.map((r) => r.allocationId),
        records.map((r) => r.workloadId),
        records.map((r) => r.gpuModel),
        records.map((r) => r.gpus),
        records.map((r) => r.startedAt.toISOString()),
        records.map((r) => r.endedAt.toISOString()),
        records.map((r) => r.gpuSeconds.toString()),
        records.map((r) => r.late),
        records.map((r) => r.attempt ?? null),
      ],
    );
    return new Set(inserted.map((row) => usageRecordKey(row.source, row.external_id)));
  }

  override async storedRecords(
    tx: Tx,
    records: readonly StoredUsageRecord[],
  ): Promise<Map<string, StoredUsageRecord>> {
    const rows = await tx.query<
      {
        source: string;
        external_id: string;
        allocation_id: string;
        workload_id: string | null;
        attempt: number | null;
        gpu_model: string;
        gpus: number;
        started_at: Date;
        ended_at: Date;
        gpu_seconds: string;
        late: boolean;
      }[]
    >(
      `SELECT u.source, u.external_id, u.allocation_id, u.workload_id, u.attempt, u.gpu_model, u.gpus, u.started_at,
              u.ended_at, u.gpu_seconds::text AS gpu_seconds, u.late
         FROM usage_records u JOIN unnest($1::text[], $2::text[]) AS k(source, external_id)
           ON u.source = k.source AND u.external_id = k.external_id`,
      [records.map((r) => r.source), records.map((r) => r.externalId)],
    );
    return new Map(
      rows.map((row) => [
        usageRecordKey(row.source, row.external_id),
        {
          source: row.source,
          externalId: row.external_id,
          allocationId: row.allocation_id,
          workloadId: row.workload_id,
          attempt: row.attempt,
          gpuModel: row.gpu_model,
          gpus: row.gpus,
          startedAt: new Date(row.started_at),
          endedAt: new Date(row.ended_at),
          gpuSeconds: BigInt(row.gpu_seconds),
          late: row.late,
        },
      ]),
    );
  }

  override async setAcceptedCount(tx: Tx, batchId: string, acceptedCount: number): Promise<void> {
    await tx.query('UPDATE usage_batches SET accepted_count = $2 WHERE id = $1', [batchId, acceptedCount]);
  }

  override async deleteBatch(tx: Tx, batchId: string): Promise<void> {
    await tx.query('DELETE FROM usage_batches WHERE id = $1', [batchId]);
  }

  override async findBatch(batchId: string): Promise<UsageBatchView | null> {
    const batch = await this.dataSource.getRepository(UsageBatchEntity).findOne({ where: { id: batchId } });
    if (!batch) return null;
    return {
      id: batch.id,
      recordCount: batch.recordCount,
      acceptedCount: batch.acceptedCount,
      receivedAt: batch.receivedAt,
      postedAt: batch.postedAt,
    };
  }

  override async unpostedBatchIds(receivedBefore: Date, limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM usage_batches WHERE posted_at IS NULL AND received_at < $1 ORDER BY received_at LIMIT ${limit}`,
      [receivedBefore],
    );
    return rows.map((row) => row.id);
  }
}

/** An allocation a posting locked, with what the posting's outcome and rollups need. */
export interface LockedUsageAllocation extends PostedAllocation {
  projectId: string;
  programId: string;
}

/**
 * The statements of a batch's posting (see PostUsageBatchUseCase for the order and the locks).
 * Every method runs inside the posting's transaction.
 */
export abstract class UsagePostingRepository {
  /** Locks the batch row (FOR NO KEY UPDATE); null when there is no such batch. */
  abstract lockBatch(tx: Tx, batchId: string): Promise<{ posted: boolean } | null>;
  abstract batchRecords(tx: Tx, batchId: string): Promise<PostingRecord[]>;
  /** Locks the allocations (FOR NO KEY UPDATE, in id order); in id order. */
  abstract lockAllocations(tx: Tx, allocationIds: string[]): Promise<Map<string, LockedUsageAllocation>>;
  /** Locks the workload rows (FOR NO KEY UPDATE, in id order): before their holds (see the lock order). */
  abstract lockWorkloads(tx: Tx, workloadIds: string[]): Promise<void>;
  /** Locks the workloads' attempt holds (FOR UPDATE, in (workload, attempt) order), per workload. */
  abstract lockHolds(tx: Tx, workloadIds: string[]): Promise<Map<string, AttemptHold[]>>;
  abstract applyHoldUpdates(tx: Tx, updates: readonly HoldUpdate[]): Promise<void>;
  abstract addWorkloadConsumed(tx: Tx, consumed: ReadonlyMap<string, bigint>): Promise<void>;
  abstract addDailyRollups(
    tx: Tx,
    buckets: DailyUsageBucket[],
    allocations: ReadonlyMap<string, LockedUsageAllocation>,
  ): Promise<void>;
  abstract markPosted(tx: Tx, batchId: string): Promise<void>;
  abstract markExhausted(tx: Tx, allocationId: string, reason: string): Promise<void>;
}

@Injectable()
export class TypeormUsagePostingRepository extends UsagePostingRepository {
  override async lockBatch(tx: Tx, batchId: string): Promise<{ posted: boolean } | null> {
    const batch = await tx.query<{ posted: boolean }[]>(
      'SELECT posted_at IS NOT NULL AS posted FROM usage_batches WHERE id = $1 FOR NO KEY UPDATE',
      [batchId],
    );
    return batch[0] ?? null;
  }

  override async batchRecords(tx: Tx, batchId: string): Promise<PostingRecord[]> {
    const rows = await tx.query<
      {
        allocation_id: string;
        workload_id: string | null;
        attempt: number | null;
        gpus: number;
        started_at: Date;
        ended_at: Date;
        gpu_seconds: string;
      }[]
    >(
      `SELECT allocation_id, workload_id, attempt, gpus, started_at, ended_at, gpu_seconds::text AS gpu_seconds
         FROM usage_records WHERE batch_id = $1 ORDER BY id`,
      [batchId],
    );
    return rows.map((row) => ({
      allocationId: row.allocation_id,
      workloadId: row.workload_id,
      attempt: row.attempt,
      gpus: row.gpus,
      startedAt: new Date(row.started_at),
      endedAt: new Date(row.ended_at),
      gpuSeconds: BigInt(row.gpu_seconds),
    }));
  }

  override async lockAllocations(tx: Tx, ids: string[]): Promise<Map<string, LockedUsageAllocation>> {
    if (ids.length === 0) return new Map();
    const rows = await tx.query<
      {
        id: string;
        project_id: string;
        program_id: string;
        gpu_model: string;
        status: string;
        ends_at: Date;
        on_exhaustion: string;
        granted: string;
      }[]
    >(
      `SELECT a.id, a.project_id, a.program_id, a.gpu_model, a.status, a.ends_at, p.on_exhaustion,
              (SELECT coalesce(sum(e.amount), 0)::text FROM ledger_entries e
                 JOIN ledger_transactions t ON t.id = e.transaction_id
                WHERE e.account = 'allocation:' || a.id AND t.kind = 'grant' AND e.amount > 0) AS granted
         FROM allocations a JOIN programs p ON p.id = a.program_id
        WHERE a.id = ANY($1) ORDER BY a.id FOR NO KEY UPDATE OF a`,
      [ids],
    );
    return new Map(
      rows.map((row) => [
        row.id,
        {
          id: row.id,
          projectId: row.project_id,
          programId: row.program_id,
          gpuModel: row.gpu_model,
          status: row.status,
          endsAt: new Date(row.ends_at),
          onExhaustion: row.on_exhaustion,
          granted: BigInt(row.granted),
        },
      ]),
    );
  }

  override async lockWorkloads(tx: Tx, workloadIds: string[]): Promise<void> {
    if (workloadIds.length === 0) return;
    await tx.query('SELECT id FROM workloads WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE', [
      workloadIds,
    ]);
  }

  override async lockHolds(tx: Tx, workloadIds: string[]): Promise<Map<string, AttemptHold[]>> {
    const result = new Map<string, AttemptHold[]>();
    if (workloadIds.length === 0) return result;
    const rows = await tx.query<
      {
        workload_id: string;
        attempt: number;
        allocation_id: string;
        remaining: string;
        since: Date;
        refund_reason: string | null;
      }[]
    >(
      `SELECT workload_id, attempt, allocation_id, remaining_gpu_seconds::text AS remaining,
              metered_gpu_seconds::text AS metered, refunded_gpu_seconds::text AS refunded,
              coalesce(started_at, admitted_at) AS since, refund_reason
         FROM workload_holds WHERE workload_id = ANY($1)
        ORDER BY workload_id, attempt FOR UPDATE`,
      [workloadIds],
    );
    for (const row of rows) {
      const list = result.get(row.workload_id) ?? [];
      list.push({
        workloadId: row.workload_id,
        attempt: row.attempt,
        allocationId: row.allocation_id,
        remaining: BigInt(row.remaining),
        since: new Date(row.since),
        refundReason: row.refund_reason,
      });
      result.set(row.workload_id, list);
    }
    return result;
  }

  override async applyHoldUpdates(tx: Tx, updates: readonly HoldUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await tx.query(
      `UPDATE workload_holds h
          SET remaining_gpu_seconds = h.remaining_gpu_seconds - v.taken,
              metered_gpu_seconds = h.metered_gpu_seconds + v.metered,
              refunded_gpu_seconds = h.refunded_gpu_seconds + v.refunded,
              release_after = CASE WHEN h.remaining_gpu_seconds - v.taken > 0 THEN h.release_after END
         FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[])
           AS v(workload_id, attempt, taken, metered, refunded)
        WHERE h.workload_id = v.workload_id AND h.attempt = v.attempt`,
      [
        updates.map((u) => u.workloadId),
        updates.map((u) => u.attempt),
        updates.map((u) => u.taken.toString()),
        updates.map((u) => u.metered.toString()),
        updates.map((u) => u.refunded.toString()),
      ],
    );
  }

  override async addWorkloadConsumed(tx: Tx, consumed: ReadonlyMap<string, bigint>): Promise<void> {
    if (consumed.size === 0) return;
    // Id order: the rows are locked in one order by every posting.
    const ids = [...consumed.keys()].sort();
    await tx.query(
      `UPDATE workloads w SET consumed_gpu_seconds = w.consumed_gpu_seconds + v.gpu_seconds
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, gpu_seconds) WHERE w.id = v.id`,
      [ids, ids.map((id) => consumed.get(id)!.toString())],
    );
  }

  override async addDailyRollups(
    tx: Tx,
    buckets: DailyUsageBucket[],
    allocations: ReadonlyMap<string, LockedUsageAllocation>,
  ): Promise<void> {
    if (buckets.length === 0) return;
    // (allocation, day) order: the rollup rows are locked in one order by every posting.
    buckets.sort((a, b) =>
      a.allocationId < b.allocationId ? -1 : a.allocationId > b.allocationId ? 1 : a.day < b.day ? -1 : 1,
    );
    await tx.query(
      `INSERT INTO usage_daily (allocation_id, day, project_id, program_id, gpu_model, gpu_seconds, records)
       SELECT * FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::int[])
       ON CONFLICT (allocation_id, day) DO UPDATE
         SET gpu_seconds = usage_daily.gpu_seconds + EXCLUDED.gpu_seconds,
             records = usage_daily.records + EXCLUDED.records`,
      [
        buckets.map((b) => b.allocationId),
        buckets.map((b) => b.day),
        buckets.map((b) => allocations.get(b.allocationId)!.projectId),
        buckets.map((b) => allocations.get(b.allocationId)!.programId),
        buckets.map((b) => allocations.get(b.allocationId)!.gpuModel),
        buckets.map((b) => b.gpuSeconds.toString()),
        buckets.map((b) => b.records),
      ],
    );
  }

  override async markPosted(tx: Tx, batchId: string): Promise<void> {
    await tx.query('UPDATE usage_batches SET posted_at = clock_timestamp() WHERE id = $1', [batchId]);
  }

  override async markExhausted(tx: Tx, allocationId: string, reason: string): Promise<void> {
    await tx.query(
      `UPDATE allocations SET status = 'exhausted', status_reason = $2, status_changed_at = now() WHERE id = $1`,
      [allocationId, reason],
    );
  }
}

export type UsagePeriodGranularity = 'day' | 'month';
export type UsageReportGrouping = 'allocation' | 'project' | 'program' | 'gpuModel';

const PERIOD_FORMAT: Record<UsagePeriodGranularity, string> = { day: 'YYYY-MM-DD', month: 'YYYY-MM' };

const GROUP_KEY: Record<UsageReportGrouping, string> = {
  allocation: 'd.allocation_id::text',
  project: 'd.project_id::text',
  program: 'd.program_id::text',
  gpuModel: 'd.gpu_model',
};

/** Metered GPU-seconds and record count of one period (and group key, '' without grouping). */
export interface UsagePeriodTotal {
  period: string;
  key: string;
  gpuSeconds: bigint;
  records: number;
}

/** Seoul days: `from` inclusive, `to` exclusive (YYYY-MM-DD). */
export interface UsageDayRange {
  from?: string | undefined;
  to?: string | undefined;
}

export interface UsageReportFilter extends UsageDayRange {
  projectId?: string | undefined;
  programId?: string | undefined;
  gpuModel?: string | undefined;
}

export interface UsageReportPage {
  granularity: UsagePeriodGranularity;
  groupBy?: UsageReportGrouping | undefined;
  /** Keyset position: rows after (period, key). */
  after?: { period: string; key: string } | undefined;
  limit: number;
}

/** Metered usage as people read it, from the daily rollups (`usage_daily`, Asia/Seoul days). */
export abstract class UsageReportRepository {
  /** One allocation's usage per period, in period order. */
  abstract allocationPeriods(
    allocationId: string,
    granularity: UsagePeriodGranularity,
    range: UsageDayRange,
  ): Promise<UsagePeriodTotal[]>;
  /**
   * Usage per period and group the scope may read, in (period, key) order, limit + 1 rows; and the
   * total over every page.
   */
  abstract report(
    filter: UsageReportFilter,
    scope: AllocationReadScope,
    page: UsageReportPage,
  ): Promise<{ rows: UsagePeriodTotal[]; total: bigint }>;
}

interface PeriodRow {
  period: string;
  key: string;
  gpu_seconds: string;
  records: string;
}

function periodTotal(row: PeriodRow): UsagePeriodTotal {
  return {
    period: row.period,
    key: row.key,
    gpuSeconds: BigInt(row.gpu_seconds),
    records: Number(row.records),
  };
}

@Injectable()
export class TypeormUsageReportRepository extends UsageReportRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async allocationPeriods(
    allocationId: string,
    granularity: UsagePeriodGranularity,
    range: UsageDayRange,
  ): Promise<UsagePeriodTotal[]> {
    const rows = await this.dataSource.query<PeriodRow[]>(
      `SELECT to_char(d.day, '${PERIOD_FORMAT[granularity]}') AS period, '' AS key,
              sum(d.gpu_seconds)::text AS gpu_seconds, sum(d.records)::text AS records
         FROM usage_daily d
        WHERE d.allocation_id = $1 AND ($2::date IS NULL OR d.day >= $2::date) AND ($3::date IS NULL OR d.day < $3::date)
        GROUP BY 1 ORDER BY 1`,
      [allocationId, range.from ?? null, range.to ?? null],
    );
    return rows.map(periodTotal);
  }

  override async report(
    filter: UsageReportFilter,
    scope: AllocationReadScope,
    page: UsageReportPage,
  ): Promise<{ rows: UsagePeriodTotal[]; total: bigint }> {
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const where: string[] = [];
    if (filter.projectId !== undefined) where.push(`d.project_id = ${param(filter.projectId)}::uuid`);
    if (filter.programId !== undefined) where.push(`d.program_id = ${param(filter.programId)}::uuid`);
    if (filter.gpuModel !== undefined) where.push(`d.gpu_model = ${param(filter.gpuModel)}`);
    if (filter.from !== undefined) where.push(`d.day >= ${param(filter.from)}::date`);
    if (filter.to !== undefined) where.push(`d.day < ${param(filter.to)}::date`);
    if (scope.kind === 'scoped')
      where.push(allocationReadSql(scope, { projectId: 'd.project_id', programId: 'd.program_id' }, param));
    const condition = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const conditionParams = [...params];

    const key = page.groupBy === undefined ? "''" : GROUP_KEY[page.groupBy];
    const after =
      page.after === undefined
        ? ''
        : `WHERE (g.period, g.key) > (${param(page.after.period)}, ${param(page.after.key)})`;
    const rows = await this.dataSource.query<PeriodRow[]>(
      `SELECT g.period, g.key, g.gpu_seconds, g.records FROM (
         SELECT to_char(d.day, '${PERIOD_FORMAT[page.granularity]}') AS period, ${key} AS key,
                sum(d.gpu_seconds)::text AS gpu_seconds, sum(d.records)::text AS records
           FROM usage_daily d ${condition}
          GROUP BY 1, 2
       ) g ${after}
       ORDER BY g.period, g.key
       LIMIT ${page.limit + 1}`,
      params,
    );
    const [totals] = await this.dataSource.query<{ total: string }[]>(
      `SELECT coalesce(sum(d.gpu_seconds), 0)::text AS total FROM usage_daily d ${condition}`,
      conditionParams,
    );
    return { rows: rows.map(periodTotal), total: BigInt(totals?.total ?? '0') };
  }
}
