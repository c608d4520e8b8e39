import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import {
  AMOUNT_FIELDS,
  assertReconciles,
  CloseAccumulator,
  ClosePricing,
  conflict,
  DomainError,
  isOrganizationType,
  parsePeriod,
  periodBounds,
  sumAmounts,
  transitionBillingPeriod,
  type BillingPeriod,
  type AccumulatedLine,
  type BilledParty,
  type BillingPeriodState,
  type CloseUsageRecord,
  type PricedAmounts,
  type PricingPolicy,
  type RateCard,
  type RecordedPolicy,
} from '#domain';
import { BillingLineEntity } from '../entities/billing.entities.js';
import { policyFromJson, policyJson, programPricing } from './billing-pricing.repository.js';
import { updateReturning } from './billing-sql.js';

/** Usage records a close reads per round trip (a server-side cursor: the period is never in memory). */
export const CLOSE_FETCH_SIZE = 10_000;
/** Lines inserted per statement. */
const LINE_INSERT_SIZE = 500;
/**
 * Late usage is looked for in batches posted since the previous close began, less this margin: a
 * posting transaction that began before that close's snapshot and committed after it has an earlier
 * `posted_at` (its start) than the close. Posting transactions last seconds; an hour is generous.
 */
export const LATE_USAGE_MARGIN_MS = 60 * 60_000;
/** One close at a time, pool-wide: closes read and write each other's markers. */
export const CLOSE_LOCK_KEY = 'gpupool:billing-close';
const CLOSE_LOCK_ATTEMPTS = 30;
/** Per statement inside the closing transaction (the pool's default is 60 s). */
const CLOSE_STATEMENT_TIMEOUT = '15min';

/** The amounts of a priced line or a total, as JSON (decimal strings: bigint has no JSON form). */
export type AmountsJson = Record<(typeof AMOUNT_FIELDS)[number], string>;

export function amountsJson(amounts: PricedAmounts): AmountsJson {
  return Object.fromEntries(AMOUNT_FIELDS.map((field) => [field, amounts[field].toString()])) as AmountsJson;
}

export interface ClosedPeriodSummary {
  period: BillingPeriod;
  startsAt: Date;
  endsAt: Date;
  closedAt: Date;
  lineCount: number;
  /** Lines carrying late usage of earlier periods, and credits of refunded usage billed before. */
  correctionLines: number;
  /** Usage-record pieces charged (this period's and late ones) and credited. */
  chargedPieces: number;
  creditedPieces: number;
  /** Usage of the period not billed because its attempt was refunded (infrastructure failure). */
  refundedGpuSeconds: bigint;
  totals: PricedAmounts;
}

export interface CloseBillingPeriodInput {
  period: string;
  /** The user closing it. */
  closedBy: string | null;
  now?: Date;
  /** Runs inside the closing transaction before it commits (e.g. the audit event). */
  beforeCommit?: (manager: EntityManager, summary: ClosedPeriodSummary) => Promise<void>;
}

interface PeriodRow {
  status: BillingPeriodState;
  closing_started_at: Date | null;
}

/**
 * Closes a billing period (an Asia/Seoul month that is over), once:
 * 1. open → closing, committed on its own so readers see that a close is under way;
 * 2. then, holding a pool-wide lock and in ONE repeatable-read transaction: every posted usage-record
 *    piece of the period (cut at Seoul days and rate changes by libs/domain) not yet billed is priced
 *    per allocation, GPU model and rate card with the program's pricing policy and the organization's
 *    type, and written as the period's lines; pieces of earlier (closed) periods that arrived since
 *    their close are written as 'Correction' lines naming their period; usage of attempts refunded
 *    after it was billed is credited the same way; every piece billed is marked; the period's usage
 *    is checked against the daily rollups kept with the ledger postings; closing → closed.
 * If step 2 fails the period goes back to open. A closed period never changes (triggers refuse it).
 */
export async function closeBillingPeriod(
  dataSource: DataSource,
  input: CloseBillingPeriodInput,
): Promise<ClosedPeriodSummary> {
  const period = parsePeriod(input.period);
  const bounds = periodBounds(period);
  const now = input.now ?? new Date();
  if (now.getTime() < bounds.endsAt.getTime()) {
    throw conflict(
      'PERIOD_NOT_OVER',
      `Billing period ${period} runs until ${bounds.endsAt.toISOString()} (Seoul midnight); it can be closed once it is over.`,
      { period, endsAt: bounds.endsAt.toISOString() },
    );
  }
  await dataSource.transaction(async (manager) => {
    await manager.query(
      `INSERT INTO billing_periods (period, status, starts_at, ends_at) VALUES ($1, 'open', $2, $3)
       ON CONFLICT (period) DO NOTHING`,
      [period, bounds.startsAt, bounds.endsAt],
    );
    const [row] = await manager.query<PeriodRow[]>(
      'SELECT status, closing_started_at FROM billing_periods WHERE period = $1 FOR UPDATE',
      [period],
    );
    // A period left closing by a closer that died is taken over in step 2 (its lock is free).
    if (row.status === 'closing') return;
    transitionBillingPeriod(row.status, 'start_closing', period);
    await assertCloseOrder(manager, period);
    await manager.query(
      `UPDATE billing_periods SET status = 'closing', closing_started_at = now() WHERE period = $1`,
      [period],
    );
  });

  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    if (!(await acquireCloseLock(runner))) {
      throw conflict(
        'CLOSE_IN_PROGRESS',
        `Another billing period is being closed right now; try ${period} again when it is done.`,
        { period },
      );
    }
    try {
      const summary = await closeLocked(runner, period, input);
      // A close adds a month of lines and markers at once: fresh statistics keep the exports' keyset
      // reads on the (period, line_no) index instead of sorting the period (autovacuum comes later).
      await runner.manager.query('ANALYZE billing_lines, billed_usage');
      return summary;
    } catch (error) {
      await reopenAfterFailure(runner, period);
      throw error;
    } finally {
      await runner.manager.query('SELECT pg_advisory_unlock(hashtext($1))', [CLOSE_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/**
 * What a close request can decide up front, without starting the close: the period is over, not
 * closed (409 ILLEGAL_TRANSITION otherwise) and in order (EARLIER_PERIOD_OPEN, LATER_PERIOD_CLOSED).
 * Returns the period's state. The close itself checks all of it again in its own transaction.
 */
export async function checkBillingPeriodClosable(
  manager: EntityManager,
  periodText: string,
  now: Date = new Date(),
): Promise<BillingPeriodState> {
  const period = parsePeriod(periodText);
  const bounds = periodBounds(period);
  if (now.getTime() < bounds.endsAt.getTime()) {
    throw conflict(
      'PERIOD_NOT_OVER',
      `Billing period ${period} runs until ${bounds.endsAt.toISOString()} (Seoul midnight); it can be closed once it is over.`,
      { period, endsAt: bounds.endsAt.toISOString() },
    );
  }
  const [row] = await manager.query<PeriodRow[]>(
    'SELECT status, closing_started_at FROM billing_periods WHERE period = $1',
    [period],
  );
  const status = row?.status ?? 'open';
  if (status === 'closing') return status;
  transitionBillingPeriod(status, 'start_closing', period);
  await assertCloseOrder(manager, period);
  return status;
}

/**
 * The pool-wide close lock (session level, so the closing transaction's snapshot starts after it is
 * held). Rate-card writes hold it shared for an instant: wait a little for them, not for another close.
 */
async function acquireCloseLock(runner: QueryRunner): Promise<boolean> {
  for (let attempt = 0; attempt < CLOSE_LOCK_ATTEMPTS; attempt += 1) {
    const [lock] = await runner.manager.query<{ ok: boolean }[]>(
      'SELECT pg_try_advisory_lock(hashtext($1)) AS ok',
      [CLOSE_LOCK_KEY],
    );
    if (lock?.ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

async function reopenAfterFailure(runner: QueryRunner, period: BillingPeriod): Promise<void> {
  if (runner.isTransactionActive) await runner.rollbackTransaction();
  const [row] = await runner.manager.query<PeriodRow[]>(
    'SELECT status, closing_started_at FROM billing_periods WHERE period = $1',
    [period],
  );
  if (row?.status !== 'closing') return;
  transitionBillingPeriod('closing', 'reopen', period);
  await runner.manager.query(
    `UPDATE billing_periods SET status = 'open', closing_started_at = NULL WHERE period = $1 AND status = 'closing'`,
    [period],
  );
}

/**
 * Closes are in order: an earlier month with usage must be closed first, or its usage has nowhere to
 * go; and once a later month is closed, an earlier one's usage is billed as corrections instead.
 */
async function assertCloseOrder(manager: EntityManager, period: BillingPeriod): Promise<void> {
  const [later] = await manager.query<{ period: string }[]>(
    `SELECT period FROM billing_periods WHERE status = 'closed' AND period > $1 ORDER BY period LIMIT 1`,
    [period],
  );
  if (later) {
    throw conflict(
      'LATER_PERIOD_CLOSED',
      `Billing period ${later.period} is already closed, so ${period} is not closed on its own: its usage is billed as corrections in the next period that closes.`,
      { period, closed: later.period },
    );
  }
  const [latest] = await manager.query<{ period: string }[]>(
    `SELECT period FROM billing_periods WHERE status = 'closed' AND period < $1 ORDER BY period DESC LIMIT 1`,
    [period],
  );
  // Every month with usage up to the latest closed one is closed (closes are in order): look after it.
  const from = latest ? periodBounds(latest.period).endsAt : new Date(0);
  const [open] = await manager.query<{ month: string }[]>(
    `SELECT to_char(d.day, 'YYYY-MM') AS month FROM usage_daily d
      WHERE d.day >= ($1::timestamptz AT TIME ZONE 'Asia/Seoul')::date AND d.day < ($2::text || '-01')::date
        AND to_char(d.day, 'YYYY-MM') NOT IN (SELECT b.period FROM billing_periods b WHERE b.status = 'closed')
      ORDER BY 1 LIMIT 1`,
    [from, period],
  );
  if (open) {
    throw conflict(
      'EARLIER_PERIOD_OPEN',
      `Billing period ${open.month} has usage and is not closed; close it before ${period}.`,
      { period, open: open.month },
    );
  }
}

/**
 * The admission attempt a usage record metered, as the usage posting chose it (postUsageBatch's
 * attemptOf): the attempt it names, else the latest one running when it started, else the first.
 * `refunded`: the attempt was failed by the infrastructure, so the ledger refunds its usage.
 */
const ATTEMPT_OF_RECORD = `
  LEFT JOIN LATERAL (
    SELECT h.attempt, h.workload_id, (h.refund_reason IS NOT NULL AND h.allocation_id = r.allocation_id) AS refunded
      FROM workload_holds h
     WHERE r.workload_id IS NOT NULL AND h.workload_id = r.workload_id AND (r.attempt IS NULL OR h.attempt = r.attempt)
     ORDER BY (coalesce(h.started_at, h.admitted_at) <= r.started_at) DESC,
              CASE WHEN coalesce(h.started_at, h.admitted_at) <= r.started_at THEN h.attempt END DESC NULLS LAST,
              h.attempt ASC
     LIMIT 1) att ON true`;

interface CandidateRow {
  id: string;
  allocation_id: string;
  gpu_model: string;
  gpus: number;
  started_at: Date;
  ended_at: Date;
  refunded: boolean | null;
  charged: string[];
}

async function closeLocked(
  runner: QueryRunner,
  period: BillingPeriod,
  input: CloseBillingPeriodInput,
): Promise<ClosedPeriodSummary> {
  const bounds = periodBounds(period);
  // The snapshot is taken after the lock: everything earlier closes wrote is visible.
  await runner.startTransaction('REPEATABLE READ');
  const manager = runner.manager;
  // One FETCH or marker INSERT is quick, but a month of tens of millions of records is not one minute.
  await manager.query(`SET LOCAL statement_timeout = '${CLOSE_STATEMENT_TIMEOUT}'`);
  const [row] = await manager.query<PeriodRow[]>(
    'SELECT status, closing_started_at FROM billing_periods WHERE period = $1 FOR UPDATE',
    [period],
  );
  transitionBillingPeriod(row?.status ?? 'open', 'close', period);
  await assertCloseOrder(manager, period);
  const work = await accumulateUsage(manager, period, { persist: true, corrections: true });
  const lines = work.nonEmptyLines();
  const pricing = await pricingOf(manager, period, lines);
  const written = await writeLines(manager, period, pricing, lines);
  await recordPolicies(manager, pricing.recorded);
  // Checked before the commit: a close that does not reconcile writes nothing.
  await assertPeriodReconciles(manager, period, written.regular, work.refundedGpuSeconds);

  const [closed] = await updateReturning<{ closed_at: Date }>(
    manager,
    `UPDATE billing_periods SET status = 'closed', closed_at = now(), closed_by = $2, line_count = $3, totals = $4
      WHERE period = $1 RETURNING closed_at`,
    [period, input.closedBy, written.lineCount, JSON.stringify(amountsJson(written.totals))],
  );
  const summary: ClosedPeriodSummary = {
    period,
    startsAt: bounds.startsAt,
    endsAt: bounds.endsAt,
    closedAt: new Date(closed.closed_at),
    lineCount: written.lineCount,
    correctionLines: written.correctionLines,
    chargedPieces: work.chargedPieces,
    creditedPieces: work.creditedPieces,
    refundedGpuSeconds: work.refundedGpuSeconds,
    totals: written.totals,
  };
  if (input.beforeCommit) await input.beforeCommit(manager, summary);
  await runner.commitTransaction();
  return summary;
}

/**
 * Prices, numbers and inserts the close's lines a batch at a time, so that a month's priced lines
 * are never all in memory (only their unpriced accumulators are). Returns their count and totals.
 */
async function writeLines(
  manager: EntityManager,
  period: BillingPeriod,
  pricing: ClosePricing,
  lines: readonly AccumulatedLine[],
): Promise<{ lineCount: number; correctionLines: number; totals: PricedAmounts; regular: PricedAmounts }> {
  const ordered = pricing.order(lines);
  let totals = sumAmounts([]);
  let regular = sumAmounts([]);
  let correctionLines = 0;
  for (let index = 0; index < ordered.length; index += LINE_INSERT_SIZE) {
    const batch = ordered
      .slice(index, index + LINE_INSERT_SIZE)
      .map((line, offset) => ({ ...pricing.price(line), period, lineNo: index + offset + 1 }));
    await manager.getRepository(BillingLineEntity).insert(batch);
    const corrections = batch.filter((line) => line.chargeClass !== '');
    correctionLines += corrections.length;
    totals = sumAmounts([totals, ...batch.map(amountsOf)]);
    regular = sumAmounts([regular, ...batch.filter((line) => line.chargeClass === '').map(amountsOf)]);
  }
  return { lineCount: ordered.length, correctionLines, totals, regular };
}

interface ComputeOptions {
  /** Mark pieces billed, refunds processed and policies recorded (a close); false: read only (a preview). */
  persist: boolean;
  /** Late usage and refund credits of closed periods: the next close carries them. */
  corrections: boolean;
  earlierClosed?: (period: BillingPeriod) => boolean;
}

/**
 * What a close bills, read in the caller's repeatable-read transaction: every unbilled piece of the
 * period's posted usage (and, with `corrections`, late usage and refund credits of closed periods),
 * summed into lines (libs/domain CloseAccumulator). With `persist` the pieces are marked billed as
 * they are read.
 */
async function accumulateUsage(
  manager: EntityManager,
  period: BillingPeriod,
  options: ComputeOptions,
): Promise<CloseAccumulator> {
  const bounds = periodBounds(period);
  const [previous] = await manager.query<{ period: string; closing_started_at: Date }[]>(
    `SELECT period, closing_started_at FROM billing_periods
      WHERE status = 'closed' AND period < $1 ORDER BY period DESC LIMIT 1`,
    [period],
  );
  const cards = (
    await manager.query<{ gpu_model: string; krw_per_gpu_hour: string; effective_from: Date }[]>(
      'SELECT gpu_model, krw_per_gpu_hour::text AS krw_per_gpu_hour, effective_from FROM rate_cards',
    )
  ).map((card): RateCard => ({
    gpuModel: card.gpu_model,
    krwPerGpuHour: BigInt(card.krw_per_gpu_hour),
    effectiveFrom: new Date(card.effective_from),
  }));
  const work = new CloseAccumulator(period, cards, options.earlierClosed);
  const lateSince =
    previous && options.corrections
      ? new Date(new Date(previous.closing_started_at).getTime() - LATE_USAGE_MARGIN_MS)
      : null;
  await chargeUsage(manager, work, bounds, lateSince, options.persist);
  if (options.corrections) await creditRefunds(manager, work, options.persist);
  return work;
}

/**
 * Invariant 6: the period's own lines carry exactly the usage the ledger postings rolled up for its
 * days, less what the ledger refunded.
 */
async function assertPeriodReconciles(
  manager: EntityManager,
  period: BillingPeriod,
  regular: PricedAmounts,
  refundedGpuSeconds: bigint,
): Promise<void> {
  const [daily] = await manager.query<{ total: string }[]>(
    `SELECT coalesce(sum(gpu_seconds), 0)::text AS total FROM usage_daily
      WHERE day >= ($1::text || '-01')::date AND day < ($1::text || '-01')::date + interval '1 month'`,
    [period],
  );
  assertReconciles(regular, BigInt(daily?.total ?? '0') - refundedGpuSeconds);
}

/** An open period's statement lines as a close would write them now: computed, never stored. */
export interface BillingPeriodPreview {
  period: BillingPeriod;
  startsAt: Date;
  endsAt: Date;
  /** When it was computed: it changes as usage arrives, until the period closes. */
  asOf: Date;
  /** Lines in line order, numbered as the close would number them if nothing else arrived. */
  lines: BillingLineEntity[];
  /**
   * Whether late usage and refund credits of closed periods are in the lines: they go to the next
   * close, which is this period's unless an earlier one with usage is still open (`earlierOpenPeriod`).
   */
  correctionsIncluded: boolean;
  earlierOpenPeriod: BillingPeriod | null;
  refundedGpuSeconds: bigint;
  totals: PricedAmounts;
}

/**
 * Previews an open period that has started (the current month, or an earlier one not closed yet):
 * the same computation as its close (accumulateUsage, ClosePricing), in a READ ONLY repeatable-read transaction that
 * is rolled back, with no lock taken: nothing is persisted and no close is held up. It reads every
 * usage record of the period, as the close does, so it costs about as much as a close's reading.
 * 409 PERIOD_CLOSED / PERIOD_CLOSING / PERIOD_NOT_STARTED / LATER_PERIOD_CLOSED otherwise.
 */
export async function previewBillingPeriod(
  dataSource: DataSource,
  input: { period: string; now?: Date },
): Promise<BillingPeriodPreview> {
  const period = parsePeriod(input.period);
  const bounds = periodBounds(period);
  const now = input.now ?? new Date();
  if (now.getTime() < bounds.startsAt.getTime()) {
    throw conflict(
      'PERIOD_NOT_STARTED',
      `Billing period ${period} starts at ${bounds.startsAt.toISOString()} (Seoul midnight); there is nothing to preview yet.`,
      { period, startsAt: bounds.startsAt.toISOString() },
    );
  }
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.startTransaction('REPEATABLE READ');
    const manager = runner.manager;
    await manager.query('SET TRANSACTION READ ONLY');
    await manager.query(`SET LOCAL statement_timeout = '${CLOSE_STATEMENT_TIMEOUT}'`);
    const [row] = await manager.query<{ status: BillingPeriodState }[]>(
      'SELECT status FROM billing_periods WHERE period = $1',
      [period],
    );
    const status = row?.status ?? 'open';
    if (status !== 'open') {
      throw conflict(
        status === 'closed' ? 'PERIOD_CLOSED' : 'PERIOD_CLOSING',
        status === 'closed'
          ? `Billing period ${period} is closed; read its statements (GET /v1/billing/statements?period=${period}), not a preview.`
          : `Billing period ${period} is being closed right now; read its statements once it is closed.`,
        { period, status },
      );
    }
    const closed = new Set(
      (
        await manager.query<{ period: string }[]>(
          `SELECT period FROM billing_periods WHERE status = 'closed' AND period < $1`,
          [period],
        )
      ).map((closedRow) => closedRow.period),
    );
    // As the close would check its order: a later closed period makes this one's usage corrections
    // there (refused, as the close refuses); an earlier open one with usage closes first and takes
    // the corrections pending, so they are left out here.
    let earlierOpenPeriod: string | null = null;
    try {
      await assertCloseOrder(manager, period);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== 'EARLIER_PERIOD_OPEN') throw error;
      earlierOpenPeriod = (error.details as { open: string }).open;
    }
    const work = await accumulateUsage(manager, period, {
      persist: false,
      corrections: earlierOpenPeriod === null,
      earlierClosed: (earlier) => closed.has(earlier),
    });
    const accumulated = work.nonEmptyLines();
    const pricing = await pricingOf(manager, period, accumulated);
    const lines: BillingLineEntity[] = pricing
      .order(accumulated)
      .map((line, index) => ({ ...pricing.price(line), period, lineNo: index + 1 }));
    await assertPeriodReconciles(
      manager,
      period,
      sumAmounts(lines.filter((line) => line.chargeClass === '').map(amountsOf)),
      work.refundedGpuSeconds,
    );
    return {
      period,
      startsAt: bounds.startsAt,
      endsAt: bounds.endsAt,
      asOf: now,
      lines,
      correctionsIncluded: earlierOpenPeriod === null,
      earlierOpenPeriod,
      refundedGpuSeconds: work.refundedGpuSeconds,
      totals: sumAmounts(lines.map(amountsOf)),
    };
  } finally {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    await runner.release();
  }
}

/**
 * Charges every unbilled piece of the period's posted usage and of earlier periods' usage posted
 * since the previous close, reading records through a cursor and marking each piece billed batch by
 * batch. Pieces of refunded attempts are left out (the ledger gave them back).
 */
async function chargeUsage(
  manager: EntityManager,
  work: CloseAccumulator,
  bounds: { startsAt: Date; endsAt: Date },
  lateSince: Date | null,
  mark: boolean,
): Promise<void> {
  // Records are at most 31 days long (MAX_USAGE_RECORD_MS), and every posted record has rolled up
  // its allocation's days in usage_daily: that bounds the period's scan to allocations used in it.
  // Late usage: earlier periods' records posted since the previous close began. The two parts are
  // disjoint (the second leaves out what the first takes), so no de-duplication holds rows back.
  const ofPeriod = `r.allocation_id IN (SELECT u.allocation_id FROM used u)
        AND r.started_at >= $1::timestamptz - interval '31 days' AND r.started_at < $2 AND r.ended_at > $1`;
  const late =
    lateSince === null
      ? ''
      : `UNION ALL
         SELECT r.* FROM usage_batches b JOIN usage_records r ON r.batch_id = b.id
          WHERE b.posted_at >= $4 AND r.started_at < $1 AND NOT (${ofPeriod})`;
  await manager.query(
    `DECLARE billing_close_candidates NO SCROLL CURSOR FOR
     WITH used AS (
       SELECT DISTINCT d.allocation_id FROM usage_daily d
        WHERE d.day >= ($3::text || '-01')::date AND d.day < ($3::text || '-01')::date + interval '1 month'
     ), candidates AS (
       SELECT r.* FROM usage_records r
        WHERE ${ofPeriod}
          AND EXISTS (SELECT 1 FROM usage_batches b WHERE b.id = r.batch_id AND b.posted_at IS NOT NULL)
       ${late}
     )
     SELECT r.id::text AS id, r.allocation_id, r.gpu_model, r.gpus, r.started_at, r.ended_at, att.refunded,
            CASE WHEN r.started_at < $1
                 THEN ARRAY(SELECT bu.period FROM billed_usage bu WHERE bu.usage_record_id = r.id AND bu.kind = 'charge')
                 ELSE '{}'::text[] END AS charged
       FROM candidates r
       ${ATTEMPT_OF_RECORD}`,
    lateSince === null
      ? [bounds.startsAt, bounds.endsAt, work.period]
      : [bounds.startsAt, bounds.endsAt, work.period, lateSince],
  );
  for (;;) {
    const rows = await manager.query<CandidateRow[]>(
      `FETCH ${CLOSE_FETCH_SIZE} FROM billing_close_candidates`,
    );
    if (rows.length === 0) break;
    const markedIds: string[] = [];
    const markedPeriods: string[] = [];
    for (const row of rows) {
      for (const charged of work.charge(usageRecordOf(row))) {
        markedIds.push(row.id);
        markedPeriods.push(charged);
      }
    }
    if (mark && markedIds.length > 0) {
      await manager.query(
        `INSERT INTO billed_usage (usage_record_id, period, kind, billed_in_period)
         SELECT id, period, 'charge', $3 FROM unnest($1::bigint[], $2::text[]) AS v(id, period)`,
        [markedIds, markedPeriods, work.period],
      );
    }
  }
  await manager.query('CLOSE billing_close_candidates');
}

/**
 * Attempts refunded (infrastructure failures) since the last close whose usage was already billed:
 * each billed piece is credited in this period as a negative 'Correction' naming its period, priced
 * exactly as it was charged (same rate card, same policy snapshot), so the credit cancels the charge
 * to the won. Every such attempt is recorded as processed, credited or not.
 */
async function creditRefunds(manager: EntityManager, work: CloseAccumulator, record: boolean): Promise<void> {
  const pending = await manager.query<{ workload_id: string; attempt: number; allocation_id: string }[]>(
    `SELECT h.workload_id, h.attempt, h.allocation_id FROM workload_holds h
      WHERE h.refund_reason IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM billing_refunds f WHERE f.workload_id = h.workload_id AND f.attempt = h.attempt)
      ORDER BY h.workload_id, h.attempt`,
  );
  if (pending.length === 0) return;
  const records = await manager.query<(CandidateRow & { workload_id: string; attempt: number })[]>(
    `SELECT r.id::text AS id, r.allocation_id, r.gpu_model, r.gpus, r.started_at, r.ended_at, att.refunded,
            att.workload_id, att.attempt,
            ARRAY(SELECT bu.period FROM billed_usage bu
                   WHERE bu.usage_record_id = r.id AND bu.kind = 'charge'
                     AND NOT EXISTS (SELECT 1 FROM billed_usage c
                                      WHERE c.usage_record_id = r.id AND c.period = bu.period AND c.kind = 'credit')
                 ) AS charged
       FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS p(workload_id, attempt, allocation_id)
       JOIN usage_records r ON r.allocation_id = p.allocation_id AND r.workload_id = p.workload_id
       ${ATTEMPT_OF_RECORD}
      WHERE att.attempt = p.attempt AND att.refunded
      ORDER BY r.id`,
    [
      pending.map((hold) => hold.workload_id),
      pending.map((hold) => hold.attempt),
      pending.map((hold) => hold.allocation_id),
    ],
  );
  const credited = new Map<string, bigint>();
  const markedIds: string[] = [];
  const markedPeriods: string[] = [];
  for (const row of records) {
    const { periods, gpuSeconds } = work.credit(usageRecordOf(row));
    const key = `${row.workload_id}:${row.attempt}`;
    credited.set(key, (credited.get(key) ?? 0n) + gpuSeconds);
    for (const period of periods) {
      markedIds.push(row.id);
      markedPeriods.push(period);
    }
  }
  if (!record) return;
  if (markedIds.length > 0) {
    await manager.query(
      `INSERT INTO billed_usage (usage_record_id, period, kind, billed_in_period)
       SELECT id, period, 'credit', $3 FROM unnest($1::bigint[], $2::text[]) AS v(id, period)`,
      [markedIds, markedPeriods, work.period],
    );
  }
  await manager.query(
    `INSERT INTO billing_refunds (workload_id, attempt, processed_in_period, credited_gpu_seconds)
     SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bigint[])`,
    [
      pending.map((hold) => hold.workload_id),
      pending.map((hold) => hold.attempt),
      pending.map(() => work.period),
      pending.map((hold) => (credited.get(`${hold.workload_id}:${hold.attempt}`) ?? 0n).toString()),
    ],
  );
}

/** The record in the shape libs/domain reads it. */
function usageRecordOf(row: CandidateRow): CloseUsageRecord {
  return {
    allocationId: row.allocation_id,
    gpuModel: row.gpu_model,
    gpus: row.gpus,
    startedAt: new Date(row.started_at),
    endedAt: new Date(row.ended_at),
    refunded: row.refunded === true,
    billedPeriods: row.charged,
  };
}

/**
 * What the lines are priced with: their allocations' project, organization and program, the
 * programs' policies now, and the policies recorded for the periods corrections name.
 */
async function pricingOf(
  manager: EntityManager,
  period: BillingPeriod,
  lines: readonly AccumulatedLine[],
): Promise<ClosePricing> {
  const allocationIds = [...new Set(lines.map((line) => line.allocationId))].sort();
  const parties = await allocationParties(manager, allocationIds);
  const programIds = [...new Set([...parties.values()].map((party) => party.programId))].sort();
  const programs = await programPricing(manager, programIds);
  const originalPeriods = [
    ...new Set(
      lines.flatMap((line) => (line.placement.correctsPeriod ? [line.placement.correctsPeriod] : [])),
    ),
  ].sort();
  const snapshots = new Map<string, PricingPolicy>();
  if (originalPeriods.length > 0 && programIds.length > 0) {
    const rows = await manager.query<{ period: string; program_id: string; policy: unknown }[]>(
      `SELECT period, program_id, policy FROM billing_period_policies
        WHERE period = ANY($1::text[]) AND program_id = ANY($2::uuid[])`,
      [originalPeriods, programIds],
    );
    for (const row of rows) snapshots.set(`${row.period}|${row.program_id}`, policyFromJson(row.policy));
  }
  return new ClosePricing(period, parties, programs, snapshots);
}

/** Policies a close priced with for the first time: later corrections of their period reuse them. */
async function recordPolicies(manager: EntityManager, recorded: readonly RecordedPolicy[]): Promise<void> {
  if (recorded.length === 0) return;
  await manager.query(
    `INSERT INTO billing_period_policies (period, program_id, policy)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::jsonb[]) ON CONFLICT DO NOTHING`,
    [
      recorded.map((entry) => entry.period),
      recorded.map((entry) => entry.programId),
      recorded.map((entry) => JSON.stringify(policyJson(entry.policy))),
    ],
  );
}

async function allocationParties(
  manager: EntityManager,
  allocationIds: readonly string[],
): Promise<Map<string, BilledParty>> {
  const result = new Map<string, BilledParty>();
  if (allocationIds.length === 0) return result;
  const rows = await manager.query<
    {
      id: string;
      project_id: string;
      title: string;
      organization_id: string;
      name: string;
      type: string;
      tax_id: string | null;
      tax_id_kind: string | null;
      program_id: string;
    }[]
  >(
    `SELECT a.id, a.project_id, pr.title, o.id AS organization_id, o.name, o.type, o.tax_id, o.tax_id_kind, a.program_id
       FROM allocations a JOIN projects pr ON pr.id = a.project_id JOIN organizations o ON o.id = pr.organization_id
      WHERE a.id = ANY($1::uuid[])`,
    [[...allocationIds]],
  );
  for (const row of rows) {
    if (!isOrganizationType(row.type)) {
      throw new Error(`organization ${row.organization_id} has type "${row.type}", unknown to libs/domain`);
    }
    result.set(row.id, {
      projectId: row.project_id,
      projectTitle: row.title,
      organizationId: row.organization_id,
      organizationName: row.name,
      orgType: row.type,
      taxId: row.tax_id,
      taxIdKind: row.tax_id_kind,
      programId: row.program_id,
    });
  }
  return result;
}

/** A stored line's amounts in the domain's shape. */
export function amountsOf(line: {
  gpuSeconds: bigint;
  listValue: bigint;
  discount: bigint;
  supplyPrice: bigint;
  subsidy: bigint;
  coPay: bigint;
  vat: bigint;
  vatFromOrganization: bigint;
  vatFromProgram: bigint;
  totalDueOrg: bigint;
  totalProgram: bigint;
}): PricedAmounts {
  return {
    gpuSeconds: line.gpuSeconds,
    listValue: line.listValue,
    discount: line.discount,
    supplyPrice: line.supplyPrice,
    subsidy: line.subsidy,
    coPay: line.coPay,
    vat: line.vat,
    vatFromOrganization: line.vatFromOrganization,
    vatFromProgram: line.vatFromProgram,
    totalDueFromOrganization: line.totalDueOrg,
    totalFromProgram: line.totalProgram,
    total: line.supplyPrice + line.vat,
  };
}
