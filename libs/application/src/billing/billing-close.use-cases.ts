import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainError, forbidden, formatGpuHours, notFound, parsePeriod, type Principal } from '#domain';
import {
  amountsJson,
  AuditRepository,
  BillingCloseRepository,
  BillingPeriodCloser,
  TransactionRunner,
  type BillingCloseRecord,
  type ClosedPeriodSummary,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, jobOptionsFor, type JobItem, type WarningLogger } from '#queues';

/** Fault injection for tests: hold the closing transaction open this long before it commits. */
export const CLOSE_FAULT_DELAY_MS = Symbol('CLOSE_FAULT_DELAY_MS');
/** The logger the close use cases warn through (optional: Nest's Logger by default). */
export const BILLING_CLOSE_LOGGER = Symbol('BILLING_CLOSE_LOGGER');

/** Domain errors a retry would only repeat: the close is marked failed at once. */
function isFinal(error: unknown): error is DomainError {
  return error instanceof DomainError && error.code !== 'CLOSE_IN_PROGRESS';
}

function principalOfCloser(record: BillingCloseRecord): Principal {
  return {
    kind: 'user',
    userId: record.requestedBy,
    email: '',
    roles: ['finance'],
    organizationId: null,
    agencyCode: null,
  };
}

/**
 * `POST /v1/billing/periods/:period/close`: checks what can be decided up front (the period is over,
 * not closed, in order), records a queued close (or returns the one already queued or running: a
 * repeat is idempotent) and enqueues `billing.close` after commit. The `reconcile.closes` sweep
 * re-enqueues a close whose job was lost.
 */
@Injectable()
export class RequestBillingCloseUseCase {
  private readonly logger: WarningLogger;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly closes: BillingCloseRepository,
    private readonly closer: BillingPeriodCloser,
    private readonly producer: JobProducer,
    @Optional() @Inject(BILLING_CLOSE_LOGGER) logger?: WarningLogger,
  ) {
    this.logger = logger ?? new Logger(RequestBillingCloseUseCase.name);
  }

  async execute(input: {
    principal: Principal;
    period: string;
    requestId: string | null;
    now?: Date;
  }): Promise<{ record: BillingCloseRecord; created: boolean }> {
    const { principal } = input;
    if (principal.kind !== 'user' || principal.agencyCode !== null) {
      throw forbidden(
        'POOL_FINANCE_REQUIRED',
        'Closing a billing period fixes every agency’s statements; it is done by a finance user not tied to one agency.',
      );
    }
    const period = parsePeriod(input.period);
    await this.closer.checkClosable(period, input.now);
    const requested = await this.transactions.run((tx) =>
      this.closes.requestClose(tx, { period, requestedBy: principal.userId, requestId: input.requestId }),
    );
    if (requested.created) {
      await enqueueAfterCommit(
        this.producer,
        { name: 'billing.close', data: { closeId: requested.record.id } },
        { logger: this.logger, recoveredBy: 'the reconcile.closes sweep (billing_period_closes)' },
      );
    }
    return requested;
  }
}

export type CloseOutcome =
  | { outcome: 'closed'; lineCount: number }
  | { outcome: 'already_closed' }
  | { outcome: 'skipped' }
  | { outcome: 'failed'; code: string };

/**
 * The `billing.close` job: runs a recorded close exactly once. A close record already finished is
 * left alone; a period already closed marks the record succeeded without closing again; otherwise
 * the close runs in one transaction and the record turns succeeded (with the audit event) inside it,
 * so a process killed mid-close leaves nothing written and the retried job closes exactly once.
 * Rule violations (NO_RATE_CARD, STATEMENT_LEDGER_MISMATCH, ...) fail the close at once; anything
 * else is retried by the queue, and marked failed on the last attempt.
 */
@Injectable()
export class CloseBillingPeriodUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly closes: BillingCloseRepository,
    private readonly closer: BillingPeriodCloser,
    private readonly audit: AuditRepository,
    @Optional() @Inject(CLOSE_FAULT_DELAY_MS) private readonly faultDelayMs: number = 0,
  ) {}

  async execute(closeId: string, options: { lastAttempt: boolean }): Promise<CloseOutcome> {
    const record = await this.closes.startAttempt(closeId);
    if (record === null) return { outcome: 'skipped' };
    if ((await this.closer.stateOf(record.period)) === 'closed') return this.alreadyClosed(record);
    try {
      const summary = await this.closer.close({
        period: record.period,
        closedBy: record.requestedBy,
        beforeCommit: async (tx, closed) => {
          await this.audit.record(tx, {
            principal: principalOfCloser(record),
            action: 'billing_period.closed',
            subjectType: 'billing_period',
            subjectId: closed.period,
            before: { status: 'closing' },
            after: { status: 'closed', lineCount: closed.lineCount, totals: totalsView(closed) },
            requestId: record.requestId,
          });
          await this.closes.markSucceeded(tx, record.id, resultOf(closed, true));
          if (this.faultDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.faultDelayMs));
        },
      });
      return { outcome: 'closed', lineCount: summary.lineCount };
    } catch (error) {
      // A close that raced another to the same period: the period is closed, and by exactly one.
      if ((await this.closer.stateOf(record.period)) === 'closed') return this.alreadyClosed(record);
      if (isFinal(error) || options.lastAttempt) {
        const code = error instanceof DomainError ? error.code : 'CLOSE_FAILED';
        await this.closes.markFailed(record.id, {
          code,
          message: error instanceof Error ? error.message : String(error),
        });
        if (isFinal(error)) return { outcome: 'failed', code };
      }
      throw error;
    }
  }

  private async alreadyClosed(record: BillingCloseRecord): Promise<CloseOutcome> {
    await this.transactions.run((tx) =>
      this.closes.markSucceeded(tx, record.id, {
        lineCount: 0,
        correctionLines: 0,
        chargedPieces: 0,
        creditedPieces: 0,
        refundedGpuSeconds: '0',
        closedByThisRecord: false,
      }),
    );
    return { outcome: 'already_closed' };
  }
}

/** `reconcile.closes`: closes queued or running whose job Redis lost are enqueued again. */
@Injectable()
export class SweepBillingClosesUseCase {
  private static readonly LIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

  constructor(
    private readonly closes: BillingCloseRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(graceMs: number, now = new Date()): Promise<{ requeued: number }> {
    const ids = await this.closes.unfinished(new Date(now.getTime() - graceMs));
    const jobs: JobItem[] = [];
    const queue = ids.length > 0 ? this.producer.queue('exports') : null;
    for (const closeId of ids) {
      const job: JobItem = { name: 'billing.close', data: { closeId } };
      const jobId = jobOptionsFor(job).jobId;
      const existing = queue && jobId ? await queue.getJob(jobId) : undefined;
      if (existing) {
        if (SweepBillingClosesUseCase.LIVE.has(await existing.getState())) continue;
        await existing.remove().catch(() => undefined);
      }
      jobs.push(job);
    }
    if (jobs.length > 0) await this.producer.enqueueMany(jobs);
    return { requeued: jobs.length };
  }
}

/** Reads of close records (`GET /v1/billing/periods/:period/close`). */
@Injectable()
export class BillingCloseQueries {
  constructor(private readonly closes: BillingCloseRepository) {}

  async latestOf(periodText: string): Promise<BillingCloseRecord> {
    const period = parsePeriod(periodText);
    const record = await this.closes.latestOf(period);
    if (record === null) {
      throw notFound('Close of billing period', period);
    }
    return record;
  }
}

function resultOf(summary: ClosedPeriodSummary, closedByThisRecord: boolean) {
  return {
    lineCount: summary.lineCount,
    correctionLines: summary.correctionLines,
    chargedPieces: summary.chargedPieces,
    creditedPieces: summary.creditedPieces,
    refundedGpuSeconds: summary.refundedGpuSeconds.toString(),
    closedByThisRecord,
  };
}

function totalsView(summary: ClosedPeriodSummary): Record<string, string> {
  const json = amountsJson(summary.totals);
  const { gpuSeconds, ...rest } = json;
  return { gpuSeconds, gpuHours: formatGpuHours(summary.totals.gpuSeconds), ...rest };
}
