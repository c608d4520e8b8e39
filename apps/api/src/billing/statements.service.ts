import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { conflict, invalid, notFound, parsePeriod, periodOf, type PricedAmounts } from '#domain';
import { billingStatements, billingStatementsPreview, type StatementRow } from '#persistence';
import type { Principal } from '../auth/principal.js';
import { agencyInScope, billingScopeOf, type BillingScope } from './billing-access.js';
import { amountsView } from './dto/amounts.response.js';
import type { StatementsPreviewQuery, StatementsQuery } from './dto/statement.request.js';
import type { StatementsPreviewResponse, StatementsResponse } from './dto/statement.response.js';

/**
 * Statements of a closed period per project, organization, program or agency, summed exactly from
 * the period's lines (so they equal the exports and the ledger consumption the lines priced); and
 * previews of an open period, computed as its close would compute them now and never stored.
 */
@Injectable()
export class StatementsService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async statements(principal: Principal, query: StatementsQuery): Promise<StatementsResponse> {
    const scope = billingScopeOf(principal);
    const period = parsePeriod(query.period);
    const agencyCode = agencyInScope(scope, query.agencyCode);
    if (query.programId !== undefined) await assertProgramInScope(this.dataSource, scope, query.programId);
    await assertClosed(this.dataSource, period);
    const page = await billingStatements(this.dataSource.manager, {
      period,
      groupBy: query.groupBy,
      agencyCode,
      programId: query.programId ?? null,
      limit: query.limit,
      after: decodeKey(query.cursor),
    });
    return { ...statementsView(period, query, agencyCode, page), preview: false };
  }

  /**
   * The open period's statements as its close would compute them now (default: the current Seoul
   * month), marked preview and not stored. Each call recomputes the period from its usage records.
   */
  async preview(principal: Principal, query: StatementsPreviewQuery): Promise<StatementsPreviewResponse> {
    const scope = billingScopeOf(principal);
    const now = new Date();
    const period = parsePeriod(query.period ?? periodOf(now));
    const agencyCode = agencyInScope(scope, query.agencyCode);
    if (query.programId !== undefined) await assertProgramInScope(this.dataSource, scope, query.programId);
    const page = await billingStatementsPreview(this.dataSource, {
      period,
      groupBy: query.groupBy,
      agencyCode,
      programId: query.programId ?? null,
      limit: query.limit,
      after: decodeKey(query.cursor),
      now,
    });
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
    nextCursor: page.more && last ? Buffer.from(last.key, 'utf8').toString('base64url') : null,
  };
}

/** Lines exist only for closed periods; asking for another one is a 409 that says so. */
export async function assertClosed(dataSource: DataSource, period: string): Promise<void> {
  const [row] = await dataSource.query<{ status: string }[]>(
    'SELECT status FROM billing_periods WHERE period = $1',
    [period],
  );
  if (row?.status !== 'closed') {
    throw conflict(
      'PERIOD_NOT_CLOSED',
      `Billing period ${period} is ${row?.status ?? 'open'}; statements and exports are of closed periods (POST /v1/billing/periods/${period}/close).`,
      { period, status: row?.status ?? 'open' },
    );
  }
}

/** A program the caller may bill: 404 for an unknown one or one of another agency. */
export async function assertProgramInScope(
  dataSource: DataSource,
  scope: BillingScope,
  programId: string,
): Promise<string> {
  const [program] = await dataSource.query<{ agency_code: string }[]>(
    'SELECT agency_code FROM programs WHERE id = $1',
    [programId],
  );
  if (!program || (scope.kind === 'agency' && program.agency_code !== scope.agencyCode)) {
    throw notFound('Program', programId);
  }
  return program.agency_code;
}

function decodeKey(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key === '' || key.length > 100 || Buffer.from(key, 'utf8').toString('base64url') !== cursor) {
    throw invalid('INVALID_CURSOR', 'The cursor is not one this API issued; start again without it.');
  }
  return key;
}
