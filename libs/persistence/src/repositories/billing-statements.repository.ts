import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { groupAmounts, sumAmounts, type PricedAmounts, type StatementGrouping } from '#domain';
import type { BillingLineEntity } from '../entities/billing.entities.js';
import { amountsOf, previewBillingPeriod, type BillingPeriodPreview } from './billing-close.repository.js';

export interface StatementQuery {
  period: string;
  groupBy: StatementGrouping;
  agencyCode: string | null;
  programId: string | null;
  limit: number;
  /** Keyset: the last key of the previous page. */
  after: string | null;
}

export interface StatementRow {
  key: string;
  /** Project title, organization name, program name or agency name. */
  name: string;
  /** Organization type, program code…: what identifies the key to people (null where nothing does). */
  detail: Record<string, string | null>;
  lineCount: number;
  amounts: PricedAmounts;
}

/** A page of statements, with the totals and line count of every page. */
export interface StatementPage {
  rows: StatementRow[];
  totals: PricedAmounts;
  lineCount: number;
  more: boolean;
}

interface Grouping {
  key: string;
  name: string;
  detail: Record<string, string>;
  join?: string;
}

const GROUPINGS: Readonly<Record<StatementGrouping, Grouping>> = {
  project: {
    key: 'l.project_id::text',
    name: 'max(l.project_title)',
    detail: { organizationId: 'max(l.organization_id::text)', organizationName: 'max(l.organization_name)' },
  },
  organization: {
    key: 'l.organization_id::text',
    name: 'max(l.organization_name)',
    detail: { orgType: 'max(l.org_type)', businessRegistrationNumber: 'max(l.business_registration_number)' },
  },
  program: {
    key: 'l.program_id::text',
    name: 'max(l.program_name)',
    detail: { programCode: 'max(l.program_code)', agencyCode: 'max(l.agency_code)' },
  },
  agency: {
    key: 'l.agency_code',
    name: 'coalesce(max(a.name), l.agency_code)',
    detail: {},
    join: 'LEFT JOIN agencies a ON a.code = l.agency_code',
  },
};

const SUMS = `count(*)::int AS line_count,
  sum(l.gpu_seconds)::text AS gpu_seconds, sum(l.list_value)::text AS list_value, sum(l.discount)::text AS discount,
  sum(l.supply_price)::text AS supply_price, sum(l.subsidy)::text AS subsidy, sum(l.co_pay)::text AS co_pay,
  sum(l.vat)::text AS vat, sum(l.vat_from_organization)::text AS vat_from_organization,
  sum(l.vat_from_program)::text AS vat_from_program, sum(l.total_due_org)::text AS total_due_org,
  sum(l.total_program)::text AS total_program`;

interface SumRow {
  line_count: number;
  gpu_seconds: string | null;
  list_value: string | null;
  discount: string | null;
  supply_price: string | null;
  subsidy: string | null;
  co_pay: string | null;
  vat: string | null;
  vat_from_organization: string | null;
  vat_from_program: string | null;
  total_due_org: string | null;
  total_program: string | null;
}

function amountsOfSums(row: SumRow): PricedAmounts {
  const n = (value: string | null): bigint => BigInt(value ?? '0');
  return {
    gpuSeconds: n(row.gpu_seconds),
    listValue: n(row.list_value),
    discount: n(row.discount),
    supplyPrice: n(row.supply_price),
    subsidy: n(row.subsidy),
    coPay: n(row.co_pay),
    vat: n(row.vat),
    vatFromOrganization: n(row.vat_from_organization),
    vatFromProgram: n(row.vat_from_program),
    totalDueFromOrganization: n(row.total_due_org),
    totalFromProgram: n(row.total_program),
    total: n(row.supply_price) + n(row.vat),
  };
}

/**
 * Statements of a closed period from its lines: one row per project, organization, program or agency,
 * every amount an exact sum of the rounded lines (never rounded again), ordered by key and paged by
 * it; `totals` covers every page.
 */
export async function billingStatements(
  manager: EntityManager,
  query: StatementQuery,
): Promise<StatementPage> {
  const grouping = GROUPINGS[query.groupBy];
  const params: unknown[] = [query.period];
  const where = ['l.period = $1'];
  if (query.agencyCode !== null) {
    params.push(query.agencyCode);
    where.push(`l.agency_code = $${params.length}`);
  }
  if (query.programId !== null) {
    params.push(query.programId);
    where.push(`l.program_id = $${params.length}::uuid`);
  }
  const filterParams = [...params];
  const filter = where.join(' AND ');
  const page = query.after === null ? '' : `AND ${grouping.key} > $${params.push(query.after)}`;
  const details = Object.entries(grouping.detail)
    .map(([alias, expression]) => `, ${expression} AS "${alias}"`)
    .join('');
  const rows = await manager.query<
    (SumRow & { key: string; name: string } & Record<string, string | null>)[]
  >(
    `SELECT ${grouping.key} AS key, ${grouping.name} AS name${details}, ${SUMS}
       FROM billing_lines l ${grouping.join ?? ''}
      WHERE ${filter} ${page}
      GROUP BY ${grouping.key}
      ORDER BY ${grouping.key}
      LIMIT ${query.limit + 1}`,
    params,
  );
  const [total] = await manager.query<SumRow[]>(
    `SELECT ${SUMS} FROM billing_lines l WHERE ${filter}`,
    filterParams,
  );
  return {
    rows: rows.slice(0, query.limit).map((row) => ({
      key: row.key,
      name: row.name,
      detail: Object.fromEntries(Object.keys(grouping.detail).map((alias) => [alias, row[alias] ?? null])),
      lineCount: row.line_count,
      amounts: amountsOfSums(row),
    })),
    totals: total ? amountsOfSums(total) : amountsOfSums({ line_count: 0 } as SumRow),
    lineCount: total?.line_count ?? 0,
    more: rows.length > query.limit,
  };
}

/** What identifies a preview line's key to people: the same names and details as GROUPINGS' SQL. */
const PREVIEW_GROUPINGS: Readonly<
  Record<
    StatementGrouping,
    {
      key: (line: BillingLineEntity) => string;
      name: (line: BillingLineEntity) => string;
      detail: (line: BillingLineEntity) => Record<string, string | null>;
    }
  >
> = {
  project: {
    key: (line) => line.projectId,
    name: (line) => line.projectTitle,
    detail: (line) => ({ organizationId: line.organizationId, organizationName: line.organizationName }),
  },
  organization: {
    key: (line) => line.organizationId,
    name: (line) => line.organizationName,
    detail: (line) => ({
      orgType: line.orgType,
      businessRegistrationNumber: line.businessRegistrationNumber,
    }),
  },
  program: {
    key: (line) => line.programId,
    name: (line) => line.programName,
    detail: (line) => ({ programCode: line.programCode, agencyCode: line.agencyCode }),
  },
  // The agency's name comes from agencies, as in GROUPINGS (the code when it has none).
  agency: {
    key: (line) => line.agencyCode,
    name: (line) => line.agencyCode,
    detail: () => ({}),
  },
};

export type StatementPreviewQuery = StatementQuery & { now?: Date };

export interface StatementPreviewPage {
  rows: StatementRow[];
  totals: PricedAmounts;
  lineCount: number;
  more: boolean;
  preview: Omit<BillingPeriodPreview, 'lines' | 'totals'>;
}

/**
 * Statements of an open period as its close would write them now (previewBillingPeriod: computed in
 * a read-only transaction, never stored), grouped, ordered and paged by key like billingStatements.
 * Every page recomputes the period: a preview costs a close's reading of the month's usage.
 */
export async function billingStatementsPreview(
  dataSource: DataSource,
  query: StatementPreviewQuery,
): Promise<StatementPreviewPage> {
  const {
    lines,
    totals: _all,
    ...preview
  } = await previewBillingPeriod(dataSource, {
    period: query.period,
    now: query.now,
  });
  const inScope = lines.filter(
    (line) =>
      (query.agencyCode === null || line.agencyCode === query.agencyCode) &&
      (query.programId === null || line.programId === query.programId),
  );
  const grouping = PREVIEW_GROUPINGS[query.groupBy];
  const agencyNames = new Map<string, string>();
  if (query.groupBy === 'agency') {
    const codes = [...new Set(inScope.map((line) => line.agencyCode))];
    const agencies = await dataSource.query<{ code: string; name: string }[]>(
      'SELECT code, name FROM agencies WHERE code = ANY($1::text[])',
      [codes],
    );
    for (const agency of agencies) agencyNames.set(agency.code, agency.name);
  }
  // Every line of a key has the same names (priced from the same facts at once): the first one's.
  const first = new Map<string, BillingLineEntity>();
  for (const line of inScope) {
    const key = grouping.key(line);
    if (!first.has(key)) first.set(key, line);
  }
  const groups = groupAmounts(
    inScope.map((line) => ({ ...amountsOf(line), key: grouping.key(line) })),
    (line) => line.key,
  ).filter((group) => query.after === null || group.key > query.after);
  const page = groups.slice(0, query.limit);
  return {
    rows: page.map((group) => {
      const line = first.get(group.key)!;
      return {
        key: group.key,
        name: query.groupBy === 'agency' ? (agencyNames.get(group.key) ?? group.key) : grouping.name(line),
        detail: grouping.detail(line),
        lineCount: group.lineCount,
        amounts: group.amounts,
      };
    }),
    totals: sumAmounts(inScope.map(amountsOf)),
    lineCount: inScope.length,
    more: groups.length > query.limit,
    preview,
  };
}

/** Statements of closed periods and previews of open ones (the port use cases read them through). */
export abstract class BillingStatementsRepository {
  abstract statements(query: StatementQuery): Promise<StatementPage>;
  abstract preview(query: StatementPreviewQuery): Promise<StatementPreviewPage>;
}

@Injectable()
export class TypeormBillingStatementsRepository extends BillingStatementsRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override statements(query: StatementQuery): Promise<StatementPage> {
    return billingStatements(this.dataSource.manager, query);
  }

  override preview(query: StatementPreviewQuery): Promise<StatementPreviewPage> {
    return billingStatementsPreview(this.dataSource, query);
  }
}
