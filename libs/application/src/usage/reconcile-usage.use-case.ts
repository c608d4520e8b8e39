import { Injectable } from '@nestjs/common';
import type { Principal } from '#domain';
import {
  AuditRepository,
  TransactionRunner,
  UsageReconciliationRepository,
  type ReconciliationReport,
} from '#persistence';

/** A report lists at most this many drifts; the rest are counted only. */
export const MAX_LISTED_DRIFTS = 100;

/**
 * The ledger and usage reconciler: recomputes balances, rollups and usage postings from their facts
 * in one REPEATABLE READ snapshot (so concurrent postings never show as drift) and writes a report.
 * Read-only apart from the report row; what drifted is for people to investigate, nothing is repaired.
 */
@Injectable()
export class ReconcileUsageUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly reconciliation: UsageReconciliationRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(clock: () => number = Date.now): Promise<ReconciliationReport> {
    const started = clock();
    const found = await this.transactions.run((tx) => this.reconciliation.findDrifts(tx), {
      isolation: 'REPEATABLE READ',
    });
    const drifts = [...found.accounts.drifts, ...found.rollups.drifts, ...found.usage.drifts];
    return this.reconciliation.saveReport({
      durationMs: clock() - started,
      accountsChecked: found.accounts.checked,
      accountDrifts: found.accounts.drifts.length,
      rollupsChecked: found.rollups.checked,
      rollupDrifts: found.rollups.drifts.length,
      usageDrifts: found.usage.drifts.length,
      drifts: drifts.slice(0, MAX_LISTED_DRIFTS),
    });
  }

  /** A run an admin asked for, audited. */
  async runFor(principal: Principal, requestId: string | null): Promise<ReconciliationReport> {
    const report = await this.execute();
    await this.transactions.run((tx) =>
      this.audit.record(tx, {
        principal,
        action: 'reconciliation.run',
        subjectType: 'reconciliation_report',
        subjectId: report.id,
        after: {
          accountDrifts: report.accountDrifts,
          rollupDrifts: report.rollupDrifts,
          usageDrifts: report.usageDrifts,
        },
        requestId,
      }),
    );
    return report;
  }

  latest(): Promise<ReconciliationReport | null> {
    return this.reconciliation.latest();
  }
}
