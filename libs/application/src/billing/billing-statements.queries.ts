import { Injectable } from '@nestjs/common';
import {
  agencyInScope,
  billingScopeOf,
  parsePeriod,
  periodOf,
  type Principal,
  type StatementGrouping,
} from '#domain';
import {
  BillingPeriodRepository,
  BillingPricingRepository,
  BillingStatementsRepository,
  type StatementPage,
  type StatementPreviewPage,
} from '#persistence';
import { assertPeriodClosed, programAgencyInScope, statementKeyOf } from './billing-checks.js';

export interface StatementsInput {
  principal: Principal;
  groupBy: StatementGrouping;
  agencyCode?: string;
  programId?: string;
  limit: number;
  cursor?: string;
}

/**
 * Statements of a closed period per project, organization, program or agency, summed exactly from
 * the period's lines (so they equal the exports and the ledger consumption the lines priced); and
 * previews of an open period, computed as its close would compute them now and never stored. A
 * finance user of an agency reads that agency's only.
 */
@Injectable()
export class BillingStatementsQueries {
  constructor(
    private readonly statementsOf: BillingStatementsRepository,
    private readonly periods: BillingPeriodRepository,
    private readonly pricing: BillingPricingRepository,
  ) {}

  async closed(
    input: StatementsInput & { period: string },
  ): Promise<{ period: string; agencyCode: string | null; page: StatementPage }> {
    const scope = billingScopeOf(input.principal);
    const period = parsePeriod(input.period);
    const agencyCode = agencyInScope(scope, input.agencyCode);
    if (input.programId !== undefined) await programAgencyInScope(this.pricing, scope, input.programId);
    await assertPeriodClosed(this.periods, period);
    const page = await this.statementsOf.statements({
      period,
      groupBy: input.groupBy,
      agencyCode,
      programId: input.programId ?? null,
      limit: input.limit,
      after: statementKeyOf(input.cursor),
    });
    return { period, agencyCode, page };
  }

  /**
   * The open period's statements as its close would compute them now (default: the current Seoul
   * month), not stored. Each call recomputes the period from its usage records.
   */
  async preview(
    input: StatementsInput & { period?: string; now?: Date },
  ): Promise<{ period: string; agencyCode: string | null; page: StatementPreviewPage }> {
    const scope = billingScopeOf(input.principal);
    const now = input.now ?? new Date();
    const period = parsePeriod(input.period ?? periodOf(now));
    const agencyCode = agencyInScope(scope, input.agencyCode);
    if (input.programId !== undefined) await programAgencyInScope(this.pricing, scope, input.programId);
    const page = await this.statementsOf.preview({
      period,
      groupBy: input.groupBy,
      agencyCode,
      programId: input.programId ?? null,
      limit: input.limit,
      after: statementKeyOf(input.cursor),
      now,
    });
    return { period, agencyCode, page };
  }
}
