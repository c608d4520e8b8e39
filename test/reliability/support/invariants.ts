import type { DataSource } from 'typeorm';
import { reconcileUsageAndBalances } from '../../support/usage-pipeline.js';

export const TERMINAL_STATES = ['succeeded', 'failed', 'cancelled', 'preempted'];

/**
 * DESIGN.md's invariants as SQL, read in one statement (one snapshot). Each entry counts the rows
 * that break one rule: every count must be 0. Meant for a quiet system (no workload in flight, every
 * usage batch posted), where the workload rules are exact; the ledger and node rules hold at any time.
 */
export interface InvariantCounts {
  /** 1. ledger transactions whose entries do not sum to 0. */
  unbalancedTransactions: number;
  /** 1. accounts whose kept balance is not the sum of their entries (either side missing counts). */
  balanceMismatches: number;
  /** 2. allocations held + consumed beyond what they were granted (allocation account below 0). */
  overHeldAllocations: number;
  /** 2. allocations whose allocation + hold + consumed balances are not what was granted. */
  unconservedAllocations: number;
  /** 2. hold accounts below 0, or holds with a negative remainder. */
  negativeHolds: number;
  /** 2. hold accounts that differ from the sum of their attempts' remaining holds. */
  holdAccountMismatches: number;
  /** 3. nodes with more GPUs allocated than they have (or fewer than 0). */
  overbookedNodes: number;
  /** 3. nodes whose gpus_allocated is not the sum of their placements. */
  placementMismatches: number;
  /** 3. placements of workloads not admitted or running. */
  strayPlacements: number;
  /** 3. admitted or running workloads whose placements do not add up to their GPUs. */
  misplacedWorkloads: number;
  /** One hold per admission attempt: hold rows and hold postings one to one, none beyond the attempt. */
  holdsWithoutPosting: number;
  holdPostingsWithoutHold: number;
  holdsBeyondAttempt: number;
  /** An admitted or running workload without a hold for its current attempt. */
  activeWithoutHold: number;
  /** A hold still open (not ended) for an attempt that is over (a newer attempt, or a terminal workload). */
  openHoldsOfEndedAttempts: number;
  /** 5. phantom runs: running workloads no agent confirms, counted on a quiet system (any running). */
  phantomRuns: number;
  /** 4. usage keys stored twice; attempts metered by more than one record. */
  duplicateUsageKeys: number;
  attemptsMeteredTwice: number;
  /** 4. workloads whose consumed counter is not the sum of their records. */
  consumedMismatches: number;
  /** 4. GPU-seconds of records minus the consumption the usage postings put in the ledger. */
  usageLedgerDrift: number;
  /** 4. succeeded workloads with no usage record for their last attempt (their run went unmetered). */
  unmeteredSucceeded: number;
  /** The usage sweep's drift check (accounts, rollups, usage), run now. */
  sweepDrifts: number;
}

export interface QuietFacts {
  workloads: number;
  byState: Record<string, number>;
  attempts: number;
  requeued: number;
  usageRecords: number;
  holdsAwaitingMetering: number;
}

/** What the checks read through: the DataSource, or a QueryRunner inside a transaction (the self-test). */
export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/**
 * `drift`: the DataSource the usage sweep's drift check runs on (it writes its report), or null to
 * skip it (inside a transaction that is rolled back).
 */
export async function checkInvariants(
  db: Queryable,
  drift: DataSource | null,
): Promise<{ counts: InvariantCounts; facts: QuietFacts }> {
  const [row] = (await db.query(
    `WITH account_sums AS (SELECT account, sum(amount) AS total FROM ledger_entries GROUP BY account),
          granted AS (
            SELECT a.id, coalesce(sum(e.amount) FILTER (WHERE t.kind = 'grant'), 0) AS granted
              FROM allocations a
              LEFT JOIN ledger_entries e ON e.account = 'allocation:' || a.id
              LEFT JOIN ledger_transactions t ON t.id = e.transaction_id
             GROUP BY a.id),
          balances AS (
            SELECT g.id, g.granted,
                   coalesce((SELECT total FROM account_sums WHERE account = 'allocation:' || g.id), 0) AS allocation,
                   coalesce((SELECT total FROM account_sums WHERE account = 'hold:' || g.id), 0) AS hold,
                   coalesce((SELECT total FROM account_sums WHERE account = 'consumed:' || g.id), 0) AS consumed,
                   (SELECT coalesce(sum(remaining_gpu_seconds), 0) FROM workload_holds h WHERE h.allocation_id = g.id) AS remaining
              FROM granted g),
          placed AS (SELECT node_id, sum(gpus) AS gpus FROM workload_placements GROUP BY node_id),
          hold_postings AS (
            SELECT split_part(idempotency_key, ':', 2)::uuid AS workload_id,
                   split_part(idempotency_key, ':', 3)::int AS attempt
              FROM ledger_transactions WHERE kind = 'hold')
     SELECT
       (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
          HAVING sum(amount) <> 0) x)::int AS "unbalancedTransactions",
       (SELECT count(*) FROM account_sums s FULL JOIN account_balances b USING (account)
          WHERE b.balance IS DISTINCT FROM s.total)::int AS "balanceMismatches",
       (SELECT count(*) FROM balances WHERE allocation < 0)::int AS "overHeldAllocations",
       (SELECT count(*) FROM balances WHERE allocation + hold + consumed <> granted)::int AS "unconservedAllocations",
       ((SELECT count(*) FROM balances WHERE hold < 0)
         + (SELECT count(*) FROM workload_holds WHERE remaining_gpu_seconds < 0))::int AS "negativeHolds",
       (SELECT count(*) FROM balances WHERE hold <> remaining)::int AS "holdAccountMismatches",
       (SELECT count(*) FROM nodes WHERE gpus_allocated > gpus_total OR gpus_allocated < 0)::int AS "overbookedNodes",
       (SELECT count(*) FROM nodes n LEFT JOIN placed p ON p.node_id = n.id
          WHERE coalesce(p.gpus, 0) <> n.gpus_allocated)::int AS "placementMismatches",
       (SELECT count(*) FROM workload_placements p JOIN workloads w ON w.id = p.workload_id
          WHERE w.state NOT IN ('admitted', 'running'))::int AS "strayPlacements",
       (SELECT count(*) FROM workloads w
          WHERE w.state IN ('admitted', 'running')
            AND w.gpus <> (SELECT coalesce(sum(gpus), 0) FROM workload_placements p WHERE p.workload_id = w.id))::int
          AS "misplacedWorkloads",
       (SELECT count(*) FROM workload_holds h WHERE NOT EXISTS (
          SELECT 1 FROM hold_postings p WHERE p.workload_id = h.workload_id AND p.attempt = h.attempt))::int
          AS "holdsWithoutPosting",
       (SELECT count(*) FROM hold_postings p WHERE NOT EXISTS (
          SELECT 1 FROM workload_holds h WHERE h.workload_id = p.workload_id AND h.attempt = p.attempt))::int
          AS "holdPostingsWithoutHold",
       (SELECT count(*) FROM workload_holds h JOIN workloads w ON w.id = h.workload_id
          WHERE h.attempt > w.attempt)::int AS "holdsBeyondAttempt",
       (SELECT count(*) FROM workloads w WHERE w.state IN ('admitted', 'running') AND NOT EXISTS (
          SELECT 1 FROM workload_holds h WHERE h.workload_id = w.id AND h.attempt = w.attempt))::int
          AS "activeWithoutHold",
       (SELECT count(*) FROM workload_holds h JOIN workloads w ON w.id = h.workload_id
          WHERE h.ended_at IS NULL
            AND (h.attempt < w.attempt OR w.state IN ('succeeded', 'failed', 'cancelled', 'preempted')))::int
          AS "openHoldsOfEndedAttempts",
       (SELECT count(*) FROM workloads WHERE state = 'running')::int AS "phantomRuns",
       (SELECT count(*) - count(DISTINCT (source, external_id)) FROM usage_records)::int AS "duplicateUsageKeys",
       (SELECT count(*) FROM (SELECT workload_id, attempt FROM usage_records WHERE workload_id IS NOT NULL
          GROUP BY workload_id, attempt HAVING count(*) > 1) x)::int AS "attemptsMeteredTwice",
       (SELECT count(*) FROM workloads w
          WHERE w.consumed_gpu_seconds <> (SELECT coalesce(sum(gpu_seconds), 0) FROM usage_records u
                                             WHERE u.workload_id = w.id))::int AS "consumedMismatches",
       ((SELECT coalesce(sum(gpu_seconds), 0) FROM usage_records)
         - (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
             WHERE t.idempotency_key LIKE 'usage:%' AND e.account LIKE 'consumed:%'))::int AS "usageLedgerDrift",
       (SELECT count(*) FROM workloads w WHERE w.state = 'succeeded' AND NOT EXISTS (
          SELECT 1 FROM usage_records u WHERE u.workload_id = w.id AND u.attempt = w.attempt))::int
          AS "unmeteredSucceeded",
       (SELECT count(*) FROM workloads)::int AS workloads,
       (SELECT coalesce(sum(attempt + 1), 0) FROM workloads WHERE admitted_at IS NOT NULL)::int AS attempts,
       (SELECT count(*) FROM workloads WHERE infrastructure_requeues > 0)::int AS requeued,
       (SELECT count(*) FROM usage_records)::int AS "usageRecords",
       (SELECT count(*) FROM workload_holds WHERE remaining_gpu_seconds > 0 AND release_after IS NOT NULL)::int
          AS "holdsAwaitingMetering"`,
  )) as (
    | Record<
        | keyof InvariantCounts
        | 'workloads'
        | 'attempts'
        | 'requeued'
        | 'usageRecords'
        | 'holdsAwaitingMetering',
        number
      >
    | undefined
  )[];
  if (!row) throw new Error('no invariant row');
  const states = (await db.query(
    'SELECT state, count(*)::int AS n FROM workloads GROUP BY state ORDER BY state',
  )) as { state: string; n: number }[];
  const report = drift ? await reconcileUsageAndBalances(drift) : undefined;
  const counts: InvariantCounts = {
    unbalancedTransactions: row.unbalancedTransactions,
    balanceMismatches: row.balanceMismatches,
    overHeldAllocations: row.overHeldAllocations,
    unconservedAllocations: row.unconservedAllocations,
    negativeHolds: row.negativeHolds,
    holdAccountMismatches: row.holdAccountMismatches,
    overbookedNodes: row.overbookedNodes,
    placementMismatches: row.placementMismatches,
    strayPlacements: row.strayPlacements,
    misplacedWorkloads: row.misplacedWorkloads,
    holdsWithoutPosting: row.holdsWithoutPosting,
    holdPostingsWithoutHold: row.holdPostingsWithoutHold,
    holdsBeyondAttempt: row.holdsBeyondAttempt,
    activeWithoutHold: row.activeWithoutHold,
    openHoldsOfEndedAttempts: row.openHoldsOfEndedAttempts,
    phantomRuns: row.phantomRuns,
    duplicateUsageKeys: row.duplicateUsageKeys,
    attemptsMeteredTwice: row.attemptsMeteredTwice,
    consumedMismatches: row.consumedMismatches,
    usageLedgerDrift: row.usageLedgerDrift,
    unmeteredSucceeded: row.unmeteredSucceeded,
    sweepDrifts: report ? report.accountDrifts + report.rollupDrifts + report.usageDrifts : 0,
  };
  return {
    counts,
    facts: {
      workloads: row.workloads,
      byState: Object.fromEntries(states.map((entry) => [entry.state, entry.n])),
      attempts: row.attempts,
      requeued: row.requeued,
      usageRecords: row.usageRecords,
      holdsAwaitingMetering: row.holdsAwaitingMetering,
    },
  };
}

/** The non-zero counts: what a failure message must show. */
export function violationsOf(counts: InvariantCounts): Partial<InvariantCounts> {
  return Object.fromEntries(
    (Object.entries(counts) as [keyof InvariantCounts, number][]).filter(([, value]) => value !== 0),
  );
}

export function totalViolations(counts: InvariantCounts): number {
  return (Object.values(counts) as number[]).reduce((sum, value) => sum + Math.abs(value), 0);
}

/** Workloads not yet terminal, and usage batches not yet posted: 0 and 0 is a quiet system. */
export async function openWork(db: DataSource): Promise<{ open: number; unposted: number }> {
  const [row] = await db.query<{ open: number; unposted: number }[]>(
    `SELECT (SELECT count(*) FROM workloads WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'preempted'))::int AS open,
            (SELECT count(*) FROM usage_batches WHERE posted_at IS NULL)::int AS unposted`,
  );
  return row ?? { open: -1, unposted: -1 };
}
