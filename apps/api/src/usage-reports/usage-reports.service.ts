import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, invalid, toAmount } from '#domain';
import { AllocationReadAccess } from '#application';
import type { Principal } from '../auth/principal.js';
import type {
  AllocationUsageQuery,
  UsageGranularity,
  UsageGrouping,
  UsageQuery,
} from './dto/usage-report.request.js';
import type { AllocationUsageResponse, UsageReportResponse } from './dto/usage-report.response.js';

const PERIOD_FORMAT: Record<UsageGranularity, string> = { day: 'YYYY-MM-DD', month: 'YYYY-MM' };

const GROUP_KEY: Record<UsageGrouping, string> = {
  allocation: 'd.allocation_id::text',
  project: 'd.project_id::text',
  program: 'd.program_id::text',
  gpuModel: 'd.gpu_model',
};

interface PeriodRow {
  period: string;
  key: string;
  gpu_seconds: string;
  records: string;
}

/**
 * Metered usage as people read it, from the daily rollups (`usage_daily`: Asia/Seoul days, kept in
 * the transaction that posts usage to the ledger). Months are Seoul calendar months, the billing
 * periods. Who may read what follows the allocations' read scope.
 */
@Injectable()
export class UsageReportsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly allocations: AllocationReadAccess,
  ) {}

  /** One allocation's usage per day or month; 404 for an allocation the caller may not read. */
  async allocationUsage(
    principal: Principal,
    allocationId: string,
    query: AllocationUsageQuery,
  ): Promise<AllocationUsageResponse> {
    await this.allocations.readable(principal, allocationId);
    const rows = await this.dataSource.query<PeriodRow[]>(
      `SELECT to_char(d.day, '${PERIOD_FORMAT[query.granularity]}') AS period, '' AS key,
              sum(d.gpu_seconds)::text AS gpu_seconds, sum(d.records)::text AS records
         FROM usage_daily d
        WHERE d.allocation_id = $1 AND ($2::date IS NULL OR d.day >= $2::date) AND ($3::date IS NULL OR d.day < $3::date)
        GROUP BY 1 ORDER BY 1`,
      [allocationId, query.from ?? null, query.to ?? null],
    );
    const items = rows.map((row) => ({
      period: row.period,
      ...toAmount(BigInt(row.gpu_seconds)),
      records: Number(row.records),
    }));
    const total = rows.reduce((sum, row) => sum + BigInt(row.gpu_seconds), 0n);
    return {
      allocationId,
      granularity: query.granularity,
      from: query.from ?? null,
      to: query.to ?? null,
      items,
      total: toAmount(total),
    };
  }

  /**
   * Usage across allocations, per period and optionally per allocation, project, program or GPU model.
   * Admins, operators and finance users not tied to an agency may query anything; finance users of an
   * agency read their agency's programs (and their own projects); everyone else must name a project
   * they belong to (403 PROJECT_REQUIRED without one, 404 for a project they cannot see).
   */
  async report(principal: Principal, query: UsageQuery): Promise<UsageReportResponse> {
    const scope = this.allocations.scopeOf(principal);
    if (query.projectId !== undefined) {
      await this.allocations.assertProjectFilterReadable(principal, query.projectId);
    } else if (scope.kind === 'scoped' && scope.agencyCode === null) {
      throw new DomainError(
        'forbidden',
        'PROJECT_REQUIRED',
        'Name the project whose usage you want with ?projectId=; usage across projects (by program or GPU model) is for admins, operators and finance users.',
      );
    }
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const where: string[] = [];
    if (query.projectId !== undefined) where.push(`d.project_id = ${param(query.projectId)}::uuid`);
    if (query.programId !== undefined) where.push(`d.program_id = ${param(query.programId)}::uuid`);
    if (query.gpuModel !== undefined) where.push(`d.gpu_model = ${param(query.gpuModel)}`);
    if (query.from !== undefined) where.push(`d.day >= ${param(query.from)}::date`);
    if (query.to !== undefined) where.push(`d.day < ${param(query.to)}::date`);
    if (scope.kind === 'scoped') {
      const member = `d.project_id IN (SELECT m.project_id FROM project_members m WHERE m.user_id = ${param(scope.projects.kind === 'member' ? scope.projects.userId : null)}::uuid)`;
      const agency =
        scope.agencyCode === null
          ? ''
          : ` OR d.program_id IN (SELECT p.id FROM programs p WHERE p.agency_code = ${param(scope.agencyCode)})`;
      where.push(`(${member}${agency})`);
    }
    const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const filterParams = [...params];

    const key = query.groupBy === undefined ? "''" : GROUP_KEY[query.groupBy];
    const after = decodeUsageCursor(query.cursor);
    const page =
      after === undefined ? '' : `WHERE (g.period, g.key) > (${param(after.period)}, ${param(after.key)})`;
    const rows = await this.dataSource.query<PeriodRow[]>(
      `SELECT g.period, g.key, g.gpu_seconds, g.records FROM (
         SELECT to_char(d.day, '${PERIOD_FORMAT[query.granularity]}') AS period, ${key} AS key,
                sum(d.gpu_seconds)::text AS gpu_seconds, sum(d.records)::text AS records
           FROM usage_daily d ${filter}
          GROUP BY 1, 2
       ) g ${page}
       ORDER BY g.period, g.key
       LIMIT ${query.limit + 1}`,
      params,
    );
    const [totals] = await this.dataSource.query<{ total: string }[]>(
      `SELECT coalesce(sum(d.gpu_seconds), 0)::text AS total FROM usage_daily d ${filter}`,
      filterParams,
    );
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      granularity: query.granularity,
      groupBy: query.groupBy ?? null,
      from: query.from ?? null,
      to: query.to ?? null,
      items: items.map((row) => ({
        period: row.period,
        key: query.groupBy === undefined ? null : row.key,
        ...toAmount(BigInt(row.gpu_seconds)),
        records: Number(row.records),
      })),
      total: toAmount(BigInt(totals?.total ?? '0')),
      nextCursor: rows.length > query.limit && last ? encodeUsageCursor(last) : null,
    };
  }
}

function encodeUsageCursor(row: { period: string; key: string }): string {
  return Buffer.from(JSON.stringify([row.period, row.key]), 'utf8').toString('base64url');
}

function decodeUsageCursor(cursor: string | undefined): { period: string; key: string } | undefined {
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
