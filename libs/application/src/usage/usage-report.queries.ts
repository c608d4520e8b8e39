import { Injectable } from '@nestjs/common';
import { DomainError, invalid, toAmount, type GpuAmount, type Principal } from '#domain';
import {
  UsageReportRepository,
  type UsagePeriodGranularity,
  type UsagePeriodTotal,
  type UsageReportFilter,
  type UsageReportGrouping,
} from '#persistence';
import { AllocationReadAccess } from '../allocations/allocation-read-access.js';

export interface UsageRangeQuery {
  from?: string | undefined;
  to?: string | undefined;
  granularity: UsagePeriodGranularity;
}

export interface UsageReportQuery extends UsageRangeQuery, UsageReportFilter {
  groupBy?: UsageReportGrouping | undefined;
  limit: number;
  cursor?: string | undefined;
}

export type UsagePeriodItem = { period: string; records: number } & GpuAmount;

export interface AllocationUsage {
  allocationId: string;
  granularity: UsagePeriodGranularity;
  from: string | null;
  to: string | null;
  items: UsagePeriodItem[];
  total: GpuAmount;
}

export interface UsageReport {
  granularity: UsagePeriodGranularity;
  groupBy: UsageReportGrouping | null;
  from: string | null;
  to: string | null;
  items: (UsagePeriodItem & { key: string | null })[];
  total: GpuAmount;
  nextCursor: string | null;
}

/**
 * Metered usage as people read it, from the daily rollups (`usage_daily`: Asia/Seoul days, kept in
 * the transaction that posts usage to the ledger). Months are Seoul calendar months, the billing
 * periods. Who may read what follows the allocations' read scope (AllocationReadAccess).
 */
@Injectable()
export class UsageReportQueries {
  constructor(
    private readonly access: AllocationReadAccess,
    private readonly reports: UsageReportRepository,
  ) {}

  /** One allocation's usage per day or month; 404 for an allocation the caller may not read. */
  async allocationUsage(
    principal: Principal,
    allocationId: string,
    query: UsageRangeQuery,
  ): Promise<AllocationUsage> {
    await this.access.readable(principal, allocationId);
    const rows = await this.reports.allocationPeriods(allocationId, query.granularity, query);
    const total = rows.reduce((sum, row) => sum + row.gpuSeconds, 0n);
    return {
      allocationId,
      granularity: query.granularity,
      from: query.from ?? null,
      to: query.to ?? null,
      items: rows.map(periodItem),
      total: toAmount(total),
    };
  }

  /**
   * Usage across allocations, per period and optionally per allocation, project, program or GPU model.
   * Admins, operators and finance users not tied to an agency may query anything; finance users of an
   * agency read their agency's programs (and their own projects); everyone else must name a project
   * they belong to (403 PROJECT_REQUIRED without one, 404 for a project they cannot see).
   */
  async report(principal: Principal, query: UsageReportQuery): Promise<UsageReport> {
    const scope = this.access.scopeOf(principal);
    if (query.projectId !== undefined) {
      await this.access.assertProjectFilterReadable(principal, query.projectId);
    } else if (scope.kind === 'scoped' && scope.agencyCode === null) {
      throw new DomainError(
        'forbidden',
        'PROJECT_REQUIRED',
        'Name the project whose usage you want with ?projectId=; usage across projects (by program or GPU model) is for admins, operators and finance users.',
      );
    }
    const { rows, total } = await this.reports.report(query, scope, {
      granularity: query.granularity,
      groupBy: query.groupBy,
      after: decodeUsageCursor(query.cursor),
      limit: query.limit,
    });
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      granularity: query.granularity,
      groupBy: query.groupBy ?? null,
      from: query.from ?? null,
      to: query.to ?? null,
      items: items.map((row) => periodItemWithKey(row, query.groupBy === undefined ? null : row.key)),
      total: toAmount(total),
      nextCursor: rows.length > query.limit && last ? encodeUsageCursor(last) : null,
    };
  }
}

function periodItem(row: UsagePeriodTotal): UsagePeriodItem {
  return { period: row.period, ...toAmount(row.gpuSeconds), records: row.records };
}

function periodItemWithKey(
  row: UsagePeriodTotal,
  key: string | null,
): UsagePeriodItem & { key: string | null } {
  return { period: row.period, key, ...toAmount(row.gpuSeconds), records: row.records };
}

export function encodeUsageCursor(row: { period: string; key: string }): string {
  return Buffer.from(JSON.stringify([row.period, row.key]), 'utf8').toString('base64url');
}

export function decodeUsageCursor(cursor: string | undefined): { period: string; key: string } | undefined {
  if (cursor === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = null;
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    typeof decoded[0] !== 'string' ||
    typeof decoded[1] !== 'string' ||
    !/^\d{4}-\d{2}(-\d{2})?$/.test(decoded[0])
  ) {
    throw invalid('INVALID_CURSOR', 'The cursor is not one this API issued; start again without it.');
  }
  return { period: decoded[0], key: decoded[1] };
}
