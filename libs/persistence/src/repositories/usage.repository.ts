import type { DataSource, EntityManager } from 'typeorm';
import {
  allocationAccount,
  consumedAccount,
  holdAccount,
  refundTransaction,
  splitUsageAgainstHold,
  splitUsageByDay,
  thresholdAlert,
  usageTransaction,
  type LedgerTransaction,
} from '#domain';
import { postLedgerTransactions } from './ledger-batch.repository.js';
import { accountBalances } from './ledger.repository.js';
import { recordNotification } from './notifications.repository.js';

/** A validated usage record as the API stores it. */
export interface StoredUsageRecord {
  source: string;
  externalId: string;
  allocationId: string;
  workloadId: string | null;
  /** The admission attempt the record meters, when the agent knows it. */
  attempt?: number | null;
  gpuModel: string;
  gpus: number;
  startedAt: Date;
  endedAt: Date;
  gpuSeconds: bigint;
  late: boolean;
}

export interface UsageIngestResult {
  batchId: string | null;
  /** Indexes (into the records given) newly stored. */
  accepted: number[];
  /** Indexes already stored with the same content (a re-send): they count once. */
  duplicates: number[];
  /** Indexes whose (source, externalId) is stored with DIFFERENT content: refused, nothing changed. */
  conflicts: { index: number; stored: StoredUsageRecord }[];
}

/**
 * Stores a batch of validated records in one transaction: the batch row, then every record in one
 * INSERT … ON CONFLICT DO NOTHING on (source, external_id). What the insert returns is accepted;
 * the rest were stored before (or earlier in this batch) and are compared with what is stored. The
 * ledger is posted later, by `postUsageBatch`, from PostgreSQL: a batch with no accepted record
 * has no row (batchId null).
 */
export async function storeUsageBatch(
  dataSource: DataSource,
  tokenId: string | null,
  records: readonly StoredUsageRecord[],
): Promise<UsageIngestResult> {
  return dataSource.transaction(async (manager) => {
    const batch = await manager.query<{ id: string }[]>(
      `INSERT INTO usage_batches (token_id, record_count, accepted_count) VALUES ($1, $2, 0) RETURNING id`,
      [tokenId, records.length],
    );
    const batchId = batch[0].id;
    const inserted = await manager.query<{ source: string; external_id: string }[]>(
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
    const fresh = new Set(inserted.map((row) => keyOf(row.source, row.external_id)));
    const result: UsageIngestResult = { batchId, accepted: [], duplicates: [], conflicts: [] };
    const seen = new Set<string>();
    const others: number[] = [];
    records.forEach((record, index) => {
      const key = keyOf(record.source, record.externalId);
      if (fresh.has(key) && !seen.has(key)) result.accepted.push(index);
      else others.push(index);
      seen.add(key);
    });
    if (others.length > 0) {
      const stored = await loadStored(
        manager,
        others.map((index) => records[index]),
      );
      for (const index of others) {
        const record = records[index];
        const existing = stored.get(keyOf(record.source, record.externalId));
        if (existing && sameRecord(existing, record)) result.duplicates.push(index);
        else if (existing) result.conflicts.push({ index, stored: existing });
      }
    }
    if (result.accepted.length === 0) {
      // Nothing new: no batch to post. (Rolling back the empty batch row keeps the table honest.)
      await manager.query('DELETE FROM usage_batches WHERE id = $1', [batchId]);
      result.batchId = null;
    } else {
      await manager.query('UPDATE usage_batches SET accepted_count = $2 WHERE id = $1', [
        batchId,
        result.accepted.length,
      ]);
    }
    return result;
  });
}

function keyOf(source: string, externalId: string): string {
  return `${source.length}:${source}${externalId}`;
}

function sameRecord(a: StoredUsageRecord, b: StoredUsageRecord): boolean {
  return (
    a.allocationId === b.allocationId &&
    (a.workloadId ?? null) === (b.workloadId ?? null) &&
    (a.attempt ?? null) === (b.attempt ?? null) &&
    a.gpuModel === b.gpuModel &&
    a.gpus === b.gpus &&
    a.startedAt.getTime() === b.startedAt.getTime() &&
    a.endedAt.getTime() === b.endedAt.getTime()
  );
}

async function loadStored(
  manager: EntityManager,
  records: readonly StoredUsageRecord[],
): Promise<Map<string, StoredUsageRecord>> {
  const rows = await manager.query<
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
      keyOf(row.source, row.external_id),
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

interface AllocationRow {
  id: string;
  project_id: string;
  program_id: string;
  gpu_model: string;
  status: string;
  ends_at: Date;
  on_exhaustion: string;
  granted: string;
}

interface HoldRow {
  workload_id: string;
  attempt: number;
  allocation_id: string;
  remaining: string;
  metered: string;
  refunded: string;
  since: Date;
  refund_reason: string | null;
}

interface RecordRow {
  allocation_id: string;
  workload_id: string | null;
  attempt: number | null;
  gpus: number;
  started_at: Date;
  ended_at: Date;
  gpu_seconds: string;
}

export interface UsagePostingResult {
  /** False when the batch was already posted (a redelivered job) or does not exist. */
  posted: boolean;
  records: number;
  /** Allocations this batch exhausted whose program stops running workloads (`on_exhaustion` stop). */
  stopAllocations: string[];
  /** Webhook deliveries created by the alerts: enqueue them after commit. */
  deliveryIds: string[];
}

/**
 * Posts one stored batch, exactly once: under a lock on the batch row it is skipped when already
 * posted, else, in one transaction —
 * 1. the batch's allocations are locked (in id order), so postings of one allocation serialize;
 * 2. each record of a workload is attributed to the attempt that was running when it started (the
 *    latest attempt admitted or started at or before it; else the first), whose hold rows are
 *    locked in key order; records without a workload (a reserved server) have no hold;
 * 3. one `consume` posting per (allocation, workload, attempt): from the attempt's remaining hold
 *    first, the rest from the allocation (which may go below zero: usage is a fact, the overdraft
 *    shows); attempts failed by the infrastructure are refunded in the same transaction;
 * 4. daily rollups (Asia/Seoul days) are added to, and the workloads' consumed counters;
 * 5. thresholds crossed (50/80/100% of granted) and exhaustion are recorded as notifications (each
 *    once, by dedupe key); an exhausted allocation stops admitting.
 */
export async function postUsageBatch(dataSource: DataSource, batchId: string): Promise<UsagePostingResult> {
  return dataSource.transaction(async (manager) => {
    const none: UsagePostingResult = { posted: false, records: 0, stopAllocations: [], deliveryIds: [] };
    const batch = await manager.query<{ posted: boolean }[]>(
      'SELECT posted_at IS NOT NULL AS posted FROM usage_batches WHERE id = $1 FOR NO KEY UPDATE',
      [batchId],
    );
    if (batch.length === 0 || batch[0].posted) return none;
    const records = await manager.query<RecordRow[]>(
      `SELECT allocation_id, workload_id, attempt, gpus, started_at, ended_at, gpu_seconds::text AS gpu_seconds
         FROM usage_records WHERE batch_id = $1 ORDER BY id`,
      [batchId],
    );
    const allocationIds = [...new Set(records.map((r) => r.allocation_id))].sort();
    const allocations = await lockAllocations(manager, allocationIds);
    const workloadIds = [...new Set(records.flatMap((r) => (r.workload_id ? [r.workload_id] : [])))].sort();
    const holds = await lockHolds(manager, workloadIds);

    // Group by (allocation, workload, attempt).
    interface Group {
      allocationId: string;
      workloadId: string | null;
      hold: HoldRow | null;
      total: bigint;
    }
    const groups = new Map<string, Group>();
    const daily = new Map<
      string,
      { allocationId: string; day: string; gpuSeconds: bigint; records: number }
    >();
    for (const record of records) {
      const hold = record.workload_id ? attemptOf(holds.get(record.workload_id), record) : null;
      const usable = hold && hold.allocation_id === record.allocation_id ? hold : null;
      const key = `${record.allocation_id}|${record.workload_id ?? '-'}|${usable?.attempt ?? '-'}`;
      let group = groups.get(key);
      if (!group) {
        group = {
          allocationId: record.allocation_id,
          workloadId: record.workload_id,
          hold: usable,
          total: 0n,
        };
        groups.set(key, group);
      }
      const gpuSeconds = BigInt(record.gpu_seconds);
      group.total += gpuSeconds;
      const pieces = splitUsageByDay(record.gpus, new Date(record.started_at), new Date(record.ended_at));
      pieces.forEach((piece, i) => {
        const dayKey = `${record.allocation_id}|${piece.day}`;
        const bucket = daily.get(dayKey) ?? {
          allocationId: record.allocation_id,
          day: piece.day,
          gpuSeconds: 0n,
          records: 0,
        };
        bucket.gpuSeconds += piece.gpuSeconds;
        if (i === 0) bucket.records += 1;
        daily.set(dayKey, bucket);
      });
    }

    const consumedBefore = await accountBalances(manager, allocationIds.map(consumedAccount));
    const postings: LedgerTransaction[] = [];
    const holdUpdates: {
      workloadId: string;
      attempt: number;
      taken: bigint;
      metered: bigint;
      refunded: bigint;
    }[] = [];
    const workloadConsumed = new Map<string, bigint>();
    for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const remaining = group.hold ? BigInt(group.hold.remaining) : 0n;
      const { fromHold, fromAllocation } = splitUsageAgainstHold(group.total, remaining);
      postings.push(
        usageTransaction({
          allocationId: group.allocationId,
          postingKey: `${batchId}:${key}`,
          fromHold,
          fromAllocation,
        }),
      );
      let refunded = 0n;
      if (group.hold?.refund_reason) {
        refunded = group.total;
        postings.push(
          refundTransaction({
            allocationId: group.allocationId,
            refundId: `${batchId}:${key}`,
            gpuSeconds: refunded,
            reason: group.hold.refund_reason,
          }),
        );
      }
      if (group.hold) {
        holdUpdates.push({
          workloadId: group.hold.workload_id,
          attempt: group.hold.attempt,
          taken: fromHold,
          metered: group.total,
          refunded,
        });
      }
      if (group.workloadId) {
        workloadConsumed.set(group.workloadId, (workloadConsumed.get(group.workloadId) ?? 0n) + group.total);
      }
    }
    const already = await postLedgerTransactions(manager, postings);
    if (already.length > 0) {
      // posted_at and these keys are written in one transaction: seeing one without the other is a bug.
      throw new Error(`usage batch ${batchId} was partly posted already: ${already.slice(0, 3).join(', ')}`);
    }
    await applyHoldUpdates(manager, holdUpdates);
    await applyWorkloadConsumed(manager, workloadConsumed);
    await applyDaily(manager, [...daily.values()], allocations);
    await manager.query('UPDATE usage_batches SET posted_at = clock_timestamp() WHERE id = $1', [batchId]);

    const result: UsagePostingResult = {
      posted: true,
      records: records.length,
      stopAllocations: [],
      deliveryIds: [],
    };
    await afterPosting(manager, allocations, consumedBefore, result);
    return result;
  });
}

async function lockAllocations(manager: EntityManager, ids: string[]): Promise<Map<string, AllocationRow>> {
  if (ids.length === 0) return new Map();
  const rows = await manager.query<AllocationRow[]>(
    `SELECT a.id, a.project_id, a.program_id, a.gpu_model, a.status, a.ends_at, p.on_exhaustion,
            (SELECT coalesce(sum(e.amount), 0)::text FROM ledger_entries e
               JOIN ledger_transactions t ON t.id = e.transaction_id
              WHERE e.account = 'allocation:' || a.id AND t.kind = 'grant' AND e.amount > 0) AS granted
       FROM allocations a JOIN programs p ON p.id = a.program_id
      WHERE a.id = ANY($1) ORDER BY a.id FOR NO KEY UPDATE OF a`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

async function lockHolds(manager: EntityManager, workloadIds: string[]): Promise<Map<string, HoldRow[]>> {
  const result = new Map<string, HoldRow[]>();
  if (workloadIds.length === 0) return result;
  const rows = await manager.query<HoldRow[]>(
    `SELECT workload_id, attempt, allocation_id, remaining_gpu_seconds::text AS remaining,
            metered_gpu_seconds::text AS metered, refunded_gpu_seconds::text AS refunded,
            coalesce(started_at, admitted_at) AS since, refund_reason
       FROM workload_holds WHERE workload_id = ANY($1)
      ORDER BY workload_id, attempt FOR UPDATE`,
    [workloadIds],
  );
  for (const row of rows) {
    const list = result.get(row.workload_id) ?? [];
    list.push(row);
    result.set(row.workload_id, list);
  }
  return result;
}

/**
 * The attempt a record meters: the one it names, else the one running when it started (the latest
 * `since` ≤ its start, else the first).
 */
function attemptOf(attempts: HoldRow[] | undefined, record: RecordRow): HoldRow | null {
  if (!attempts || attempts.length === 0) return null;
  if (record.attempt !== null) return attempts.find((a) => a.attempt === record.attempt) ?? null;
  const start = new Date(record.started_at).getTime();
  let chosen = attempts[0];
  for (const attempt of attempts) {
    if (new Date(attempt.since).getTime() <= start) chosen = attempt;
  }
  return chosen;
}

async function applyHoldUpdates(
  manager: EntityManager,
  updates: { workloadId: string; attempt: number; taken: bigint; metered: bigint; refunded: bigint }[],
): Promise<void> {
  if (updates.length === 0) return;
  await manager.query(
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

async function applyWorkloadConsumed(manager: EntityManager, consumed: Map<string, bigint>): Promise<void> {
  if (consumed.size === 0) return;
  const ids = [...consumed.keys()].sort();
  await manager.query(
    `UPDATE workloads w SET consumed_gpu_seconds = w.consumed_gpu_seconds + v.gpu_seconds
       FROM unnest($1::uuid[], $2::bigint[]) AS v(id, gpu_seconds) WHERE w.id = v.id`,
    [ids, ids.map((id) => consumed.get(id)!.toString())],
  );
}

async function applyDaily(
  manager: EntityManager,
  buckets: { allocationId: string; day: string; gpuSeconds: bigint; records: number }[],
  allocations: Map<string, AllocationRow>,
): Promise<void> {
  if (buckets.length === 0) return;
  buckets.sort((a, b) =>
    a.allocationId < b.allocationId ? -1 : a.allocationId > b.allocationId ? 1 : a.day < b.day ? -1 : 1,
  );
  await manager.query(
    `INSERT INTO usage_daily (allocation_id, day, project_id, program_id, gpu_model, gpu_seconds, records)
     SELECT * FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::int[])
     ON CONFLICT (allocation_id, day) DO UPDATE
       SET gpu_seconds = usage_daily.gpu_seconds + EXCLUDED.gpu_seconds,
           records = usage_daily.records + EXCLUDED.records`,
    [
      buckets.map((b) => b.allocationId),
      buckets.map((b) => b.day),
      buckets.map((b) => allocations.get(b.allocationId)!.project_id),
      buckets.map((b) => allocations.get(b.allocationId)!.program_id),
      buckets.map((b) => allocations.get(b.allocationId)!.gpu_model),
      buckets.map((b) => b.gpuSeconds.toString()),
      buckets.map((b) => b.records),
    ],
  );
}

/** Threshold alerts and exhaustion, in the posting's transaction (each fires once by its key). */
async function afterPosting(
  manager: EntityManager,
  allocations: Map<string, AllocationRow>,
  consumedBefore: Map<string, bigint>,
  result: UsagePostingResult,
): Promise<void> {
  const ids = [...allocations.keys()];
  const accounts = ids.flatMap((id) => [consumedAccount(id), allocationAccount(id), holdAccount(id)]);
  const after = await accountBalances(manager, accounts);
  for (const id of ids) {
    const allocation = allocations.get(id)!;
    const granted = BigInt(allocation.granted);
    const before = consumedBefore.get(consumedAccount(id)) ?? 0n;
    const consumed = after.get(consumedAccount(id)) ?? 0n;
    const subject = { allocationId: id, gpuModel: allocation.gpu_model };
    const alert = thresholdAlert(subject, granted, before, consumed, new Date(allocation.ends_at));
    if (alert) {
      const recorded = await recordNotification(manager, {
        projectId: allocation.project_id,
        allocationId: id,
        kind: alert.kind,
        dedupeKey: alert.key,
        title: `Usage alert: ${allocation.gpu_model} allocation`,
        body: alert.message,
        data: { granted: granted.toString(), consumed: consumed.toString() },
      });
      if (recorded) result.deliveryIds.push(...recorded.deliveryIds);
    }
    // Exhausted: metered usage took everything that was not returned (nothing left to hold or admit).
    const unspent = (after.get(allocationAccount(id)) ?? 0n) + (after.get(holdAccount(id)) ?? 0n);
    if (allocation.status === 'active' && granted > 0n && unspent <= 0n) {
      const reason = `exhausted: ${consumed.toString()} GPU-seconds consumed of ${granted.toString()} granted`;
      await manager.query(
        `UPDATE allocations SET status = 'exhausted', status_reason = $2, status_changed_at = now() WHERE id = $1`,
        [id, reason],
      );
      const stop = allocation.on_exhaustion === 'stop';
      const recorded = await recordNotification(manager, {
        projectId: allocation.project_id,
        allocationId: id,
        kind: 'allocation_exhausted',
        dedupeKey: `allocation_exhausted:${id}`,
        title: `Allocation exhausted: ${allocation.gpu_model}`,
        body:
          `Allocation ${id} (${allocation.gpu_model}) has no quota left: no new workloads will be admitted. ` +
          (stop
            ? 'Its program stops running workloads when an allocation is exhausted, so they are being stopped. '
            : 'Its program lets running workloads finish. ') +
          'Ask the program for an extension or apply for a new allocation to keep working.',
        data: {
          granted: granted.toString(),
          consumed: consumed.toString(),
          onExhaustion: allocation.on_exhaustion,
        },
      });
      if (recorded) result.deliveryIds.push(...recorded.deliveryIds);
      if (stop) result.stopAllocations.push(id);
    }
  }
}
