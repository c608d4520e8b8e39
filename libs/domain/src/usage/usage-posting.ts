import { allocationAccount, consumedAccount, holdAccount } from '../ledger/accounts.js';
import {
  refundTransaction,
  splitUsageAgainstHold,
  usageTransaction,
  type LedgerTransaction,
} from '../ledger/ledger-transaction.js';
import { thresholdAlert, type UsageAlert } from './alerts.js';
import { splitUsageByDay } from './day-split.js';

/** A stored record of a batch being posted. */
export interface PostingRecord {
  allocationId: string;
  workloadId: string | null;
  attempt: number | null;
  gpus: number;
  startedAt: Date;
  endedAt: Date;
  gpuSeconds: bigint;
}

/** One admission attempt's hold, as the posting found it (locked). */
export interface AttemptHold {
  workloadId: string;
  attempt: number;
  allocationId: string;
  remaining: bigint;
  /** When the attempt started (else when it was admitted). */
  since: Date;
  /** Set when the infrastructure failed the attempt: everything metered for it is refunded. */
  refundReason: string | null;
}

export interface HoldUpdate {
  workloadId: string;
  attempt: number;
  taken: bigint;
  metered: bigint;
  refunded: bigint;
}

export interface DailyUsageBucket {
  allocationId: string;
  day: string;
  gpuSeconds: bigint;
  records: number;
}

/** Everything one batch's posting writes, decided from its records and the attempts' holds. */
export interface UsagePostingPlan {
  postings: LedgerTransaction[];
  holdUpdates: HoldUpdate[];
  /** Per workload, the GPU-seconds its consumed counter grows by. */
  workloadConsumed: Map<string, bigint>;
  /** Per (allocation, Asia/Seoul day), what the daily rollup grows by. */
  daily: DailyUsageBucket[];
}

/**
 * The attempt a record meters: the one it names, else the one running when it started (the latest
 * `since` ≤ its start, else the first). `attempts` are in attempt order.
 */
export function attemptOf(
  attempts: readonly AttemptHold[] | undefined,
  record: PostingRecord,
): AttemptHold | null {
  if (!attempts || attempts.length === 0) return null;
  if (record.attempt !== null) return attempts.find((a) => a.attempt === record.attempt) ?? null;
  const start = record.startedAt.getTime();
  let chosen = attempts[0];
  for (const attempt of attempts) {
    if (attempt.since.getTime() <= start) chosen = attempt;
  }
  return chosen;
}

interface PostingGroup {
  allocationId: string;
  workloadId: string | null;
  hold: AttemptHold | null;
  total: bigint;
}

/**
 * Plans the posting of one batch: its records grouped by (allocation, workload, attempt) — a
 * record's attempt hold counts only when it is of the record's allocation — one `consume` posting
 * per group (from the attempt's remaining hold first, the rest from the allocation, which may go
 * below zero: usage is a fact), a refund of the whole group when the infrastructure failed the
 * attempt, the holds' and workloads' counters and the daily rollups. Groups are taken in key order,
 * so a redelivered batch presents the same postings under the same keys.
 */
export function planUsagePosting(
  batchId: string,
  records: readonly PostingRecord[],
  holds: ReadonlyMap<string, readonly AttemptHold[]>,
): UsagePostingPlan {
  const { groups, daily } = groupRecords(records, holds);
  const plan: UsagePostingPlan = { postings: [], holdUpdates: [], workloadConsumed: new Map(), daily };
  for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const remaining = group.hold ? group.hold.remaining : 0n;
    const { fromHold, fromAllocation } = splitUsageAgainstHold(group.total, remaining);
    plan.postings.push(
      usageTransaction({
        allocationId: group.allocationId,
        postingKey: `${batchId}:${key}`,
        fromHold,
        fromAllocation,
      }),
    );
    let refunded = 0n;
    if (group.hold?.refundReason) {
      refunded = group.total;
      plan.postings.push(
        refundTransaction({
          allocationId: group.allocationId,
          refundId: `${batchId}:${key}`,
          gpuSeconds: refunded,
          reason: group.hold.refundReason,
        }),
      );
    }
    if (group.hold) {
      plan.holdUpdates.push({
        workloadId: group.hold.workloadId,
        attempt: group.hold.attempt,
        taken: fromHold,
        metered: group.total,
        refunded,
      });
    }
    if (group.workloadId) {
      plan.workloadConsumed.set(
        group.workloadId,
        (plan.workloadConsumed.get(group.workloadId) ?? 0n) + group.total,
      );
    }
  }
  return plan;
}

function groupRecords(
  records: readonly PostingRecord[],
  holds: ReadonlyMap<string, readonly AttemptHold[]>,
): { groups: Map<string, PostingGroup>; daily: DailyUsageBucket[] } {
  const groups = new Map<string, PostingGroup>();
  const daily = new Map<string, DailyUsageBucket>();
  for (const record of records) {
    const hold = record.workloadId ? attemptOf(holds.get(record.workloadId), record) : null;
    const usable = hold && hold.allocationId === record.allocationId ? hold : null;
    const key = `${record.allocationId}|${record.workloadId ?? '-'}|${usable?.attempt ?? '-'}`;
    let group = groups.get(key);
    if (!group) {
      group = { allocationId: record.allocationId, workloadId: record.workloadId, hold: usable, total: 0n };
      groups.set(key, group);
    }
    group.total += record.gpuSeconds;
    splitUsageByDay(record.gpus, record.startedAt, record.endedAt).forEach((piece, i) => {
      const dayKey = `${record.allocationId}|${piece.day}`;
      const bucket = daily.get(dayKey) ?? {
        allocationId: record.allocationId,
        day: piece.day,
        gpuSeconds: 0n,
        records: 0,
      };
      bucket.gpuSeconds += piece.gpuSeconds;
      if (i === 0) bucket.records += 1;
      daily.set(dayKey, bucket);
    });
  }
  return { groups, daily: [...daily.values()] };
}

/** An allocation a posting touched, as locked at its start. */
export interface PostedAllocation {
  id: string;
  gpuModel: string;
  status: string;
  endsAt: Date;
  onExhaustion: string;
  /** Everything granted to it (positive grant entries). */
  granted: bigint;
}

/** What a posting changed for one allocation that people must hear of. */
export interface PostingOutcome {
  allocationId: string;
  /** A threshold (50/80/100% of granted) crossed by this posting, if any. */
  alert: UsageAlert | null;
  /** Set when the posting exhausted the allocation: it stops admitting. */
  exhaustion: { reason: string; stopsRunningWork: boolean } | null;
  granted: bigint;
  consumed: bigint;
}

/**
 * The consequences of a posting for one allocation, from its balances before and after: a crossed
 * threshold, and exhaustion — metered usage took everything that was not returned (nothing left
 * to hold or admit), for an active allocation that was granted something.
 */
export function postingOutcome(
  allocation: PostedAllocation,
  consumedBefore: bigint,
  balancesAfter: ReadonlyMap<string, bigint>,
): PostingOutcome {
  const id = allocation.id;
  const consumed = balancesAfter.get(consumedAccount(id)) ?? 0n;
  const subject = { allocationId: id, gpuModel: allocation.gpuModel };
  const alert = thresholdAlert(subject, allocation.granted, consumedBefore, consumed, allocation.endsAt);
  const unspent =
    (balancesAfter.get(allocationAccount(id)) ?? 0n) + (balancesAfter.get(holdAccount(id)) ?? 0n);
  const exhausted = allocation.status === 'active' && allocation.granted > 0n && unspent <= 0n;
  return {
    allocationId: id,
    alert,
    exhaustion: exhausted
      ? {
          reason: `exhausted: ${consumed.toString()} GPU-seconds consumed of ${allocation.granted.toString()} granted`,
          stopsRunningWork: allocation.onExhaustion === 'stop',
        }
      : null,
    granted: allocation.granted,
    consumed,
  };
}
