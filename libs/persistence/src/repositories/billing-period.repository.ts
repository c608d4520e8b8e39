import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { BillingPeriodState, PricedAmounts } from '#domain';
import type { AmountsJson } from './billing-close.repository.js';
import { billingStatements } from './billing-statements.repository.js';

/** A row of billing_periods. */
export interface BillingPeriodRow {
  period: string;
  status: BillingPeriodState;
  starts_at: Date;
  ends_at: Date;
  closing_started_at: Date | null;
  closed_at: Date | null;
  closed_by: string | null;
  line_count: number | null;
  totals: AmountsJson | null;
}

const PERIOD_COLUMNS =
  'period, status, starts_at, ends_at, closing_started_at, closed_at, closed_by, line_count, totals';

/** Reads of billing periods (SQL only). */
export abstract class BillingPeriodRepository {
  abstract find(period: string): Promise<BillingPeriodRow | null>;
  /** Periods before `before` (null: all), newest first, at most `limit`. */
  abstract list(before: string | null, limit: number): Promise<BillingPeriodRow[]>;
  /** One agency's share of a closed period: its line count and totals. */
  abstract agencyShare(
    period: string,
    agencyCode: string,
  ): Promise<{ lineCount: number; totals: PricedAmounts }>;
}

@Injectable()
export class TypeormBillingPeriodRepository extends BillingPeriodRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async find(period: string): Promise<BillingPeriodRow | null> {
    const [row] = await this.dataSource.query<BillingPeriodRow[]>(
      `SELECT ${PERIOD_COLUMNS} FROM billing_periods WHERE period = $1`,
      [period],
    );
    return row ?? null;
  }

  override list(before: string | null, limit: number): Promise<BillingPeriodRow[]> {
    return this.dataSource.query<BillingPeriodRow[]>(
      `SELECT ${PERIOD_COLUMNS} FROM billing_periods WHERE ($1::text IS NULL OR period < $1) ORDER BY period DESC LIMIT $2`,
      [before, limit],
    );
  }

  override async agencyShare(
    period: string,
    agencyCode: string,
  ): Promise<{ lineCount: number; totals: PricedAmounts }> {
    const own = await billingStatements(this.dataSource.manager, {
      period,
      groupBy: 'agency',
      agencyCode,
      programId: null,
      limit: 1,
      after: null,
    });
    return { lineCount: own.lineCount, totals: own.totals };
  }
}
