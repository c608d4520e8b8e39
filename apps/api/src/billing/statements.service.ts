import { Injectable } from '@nestjs/common';
import type { PricedAmounts } from '#domain';
import { BillingStatementsQueries, statementCursorOf } from '#application';
import type { StatementRow } from '#persistence';
import type { Principal } from '../auth/principal.js';
import { amountsView } from './dto/amounts.response.js';
import type { StatementsPreviewQuery, StatementsQuery } from './dto/statement.request.js';
import type { StatementsPreviewResponse, StatementsResponse } from './dto/statement.response.js';

/** Statements of closed periods and previews of open ones (BillingStatementsQueries), as responses. */
@Injectable()
export class StatementsService {
  constructor(private readonly queries: BillingStatementsQueries) {}

  async statements(principal: Principal, query: StatementsQuery): Promise<StatementsResponse> {
    const { period, agencyCode, page } = await this.queries.closed({ principal, ...query });
    return { ...statementsView(period, query, agencyCode, page), preview: false };
  }

  async preview(principal: Principal, query: StatementsPreviewQuery): Promise<StatementsPreviewResponse> {
    const { period, agencyCode, page } = await this.queries.preview({ principal, ...query });
    return {
      ...statementsView(period, query, agencyCode, page),
      preview: true,
      asOf: page.preview.asOf.toISOString(),
      correctionsIncluded: page.preview.correctionsIncluded,
      earlierOpenPeriod: page.preview.earlierOpenPeriod,
    };
  }
}

function statementsView(
  period: string,
  query: { groupBy: StatementsQuery['groupBy']; programId?: string },
  agencyCode: string | null,
  page: { rows: StatementRow[]; totals: PricedAmounts; lineCount: number; more: boolean },
): Omit<StatementsResponse, 'preview'> {
  const last = page.rows[page.rows.length - 1];
  return {
    period,
    groupBy: query.groupBy,
    agencyCode,
    programId: query.programId ?? null,
    items: page.rows.map((row) => ({
      key: row.key,
      name: row.name,
      detail: row.detail,
      lineCount: row.lineCount,
      ...amountsView(row.amounts),
    })),
    totals: amountsView(page.totals),
    lineCount: page.lineCount,
    nextCursor: page.more && last ? statementCursorOf(last.key) : null,
  };
}
