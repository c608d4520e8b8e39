import { Injectable } from '@nestjs/common';
import { billingScopeOf, parsePeriod, periodBounds, type BillingScope, type PricedAmounts } from '#domain';
import { BillingCloseQueries, RequestBillingCloseUseCase } from '#application';
import {
  BillingPeriodRepository,
  type AmountsJson,
  type BillingCloseRecord,
  type BillingPeriodRow as PeriodRow,
} from '#persistence';
import type { Principal } from '../auth/principal.js';
import { amountsView } from './dto/amounts.response.js';
import type { ListPeriodsQuery } from './dto/billing-period.request.js';
import type { BillingCloseResponse, BillingPeriodResponse } from './dto/billing-period.response.js';

/** Billing periods (Asia/Seoul months): their state, totals, and the close. */
@Injectable()
export class BillingPeriodsService {
  constructor(
    private readonly periods: BillingPeriodRepository,
    private readonly requestClose: RequestBillingCloseUseCase,
    private readonly closes: BillingCloseQueries,
  ) {}

  async get(principal: Principal, periodText: string): Promise<BillingPeriodResponse> {
    const scope = billingScopeOf(principal);
    const period = parsePeriod(periodText);
    const row = await this.periods.find(period);
    return this.view(scope, row ?? openPeriod(period));
  }

  async list(
    principal: Principal,
    query: ListPeriodsQuery,
  ): Promise<{ items: BillingPeriodResponse[]; nextCursor: string | null }> {
    const scope = billingScopeOf(principal);
    const rows = await this.periods.list(query.cursor ?? null, query.limit + 1);
    const page = rows.slice(0, query.limit);
    const items: BillingPeriodResponse[] = [];
    for (const row of page) items.push(await this.view(scope, row));
    return { items, nextCursor: rows.length > query.limit ? (page[page.length - 1]?.period ?? null) : null };
  }

  /**
   * Requests the close of a period that is over (finance users not tied to an agency: a close covers
   * every agency): the scheduler's `billing.close` job runs it. A repeat while one is queued or
   * running answers that one.
   */
  async close(
    principal: Principal,
    periodText: string,
    requestId: string | null,
  ): Promise<BillingCloseResponse> {
    billingScopeOf(principal);
    const { record } = await this.requestClose.execute({ principal, period: periodText, requestId });
    return closeView(record);
  }

  /** The period's latest close (404 when none was requested). */
  async latestClose(principal: Principal, periodText: string): Promise<BillingCloseResponse> {
    billingScopeOf(principal);
    return closeView(await this.closes.latestOf(periodText));
  }

  private async view(scope: BillingScope, row: PeriodRow): Promise<BillingPeriodResponse> {
    let totals = row.totals === null ? null : amountsView(amountsFromJson(row.totals));
    let lineCount = row.line_count;
    if (scope.kind === 'agency' && row.status === 'closed') {
      // An agency's finance user sees its own share of the period, not the pool's.
      const own = await this.periods.agencyShare(row.period, scope.agencyCode);
      totals = amountsView(own.totals);
      lineCount = own.lineCount;
    }
    return {
      period: row.period,
      status: row.status,
      startsAt: new Date(row.starts_at).toISOString(),
      endsAt: new Date(row.ends_at).toISOString(),
      closingStartedAt: row.closing_started_at ? new Date(row.closing_started_at).toISOString() : null,
      closedAt: row.closed_at ? new Date(row.closed_at).toISOString() : null,
      closedBy: row.closed_by,
      lineCount,
      totals,
    };
  }
}

function openPeriod(period: string): PeriodRow {
  const bounds = periodBounds(period);
  return {
    period,
    status: 'open',
    starts_at: bounds.startsAt,
    ends_at: bounds.endsAt,
    closing_started_at: null,
    closed_at: null,
    closed_by: null,
    line_count: null,
    totals: null,
  };
}

function amountsFromJson(json: AmountsJson): PricedAmounts {
  return {
    gpuSeconds: BigInt(json.gpuSeconds),
    listValue: BigInt(json.listValue),
    discount: BigInt(json.discount),
    supplyPrice: BigInt(json.supplyPrice),
    subsidy: BigInt(json.subsidy),
    coPay: BigInt(json.coPay),
    vat: BigInt(json.vat),
    vatFromOrganization: BigInt(json.vatFromOrganization),
    vatFromProgram: BigInt(json.vatFromProgram),
    totalDueFromOrganization: BigInt(json.totalDueFromOrganization),
    totalFromProgram: BigInt(json.totalFromProgram),
    total: BigInt(json.total),
  };
}

export function closeHref(period: string): string {
  return `/v1/billing/periods/${period}/close`;
}

function closeView(record: BillingCloseRecord): BillingCloseResponse {
  return {
    id: record.id,
    period: record.period,
    status: record.status,
    phase: record.phase,
    requestedBy: record.requestedBy,
    requestId: record.requestId,
    attempts: record.attempts,
    error: record.errorCode === null ? null : { code: record.errorCode, message: record.errorMessage ?? '' },
    createdAt: record.createdAt.toISOString(),
    startedAt: record.startedAt?.toISOString() ?? null,
    finishedAt: record.finishedAt?.toISOString() ?? null,
    result: record.result,
    href: closeHref(record.period),
  };
}
