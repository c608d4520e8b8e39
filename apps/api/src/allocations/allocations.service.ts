import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Brackets, DataSource, type EntityManager } from 'typeorm';
import {
  allocationAccount,
  allocationBalance,
  consumedAccount,
  holdAccount,
  isDomainError,
  LEDGER_TRANSACTION_KINDS,
  notFound,
  type AllocationBalance,
  type LedgerPosting,
  type LedgerTransactionKind,
} from '#domain';
import {
  AllocationEntity,
  ProgramEntity,
  ProjectEntity,
  reservationStandings,
  reservedUsage,
} from '#persistence';
import { hasRole, type Principal } from '../auth/principal.js';
import { pageOf, type Page } from '../common/pagination.js';
import { ProjectAccess } from '#application';
import { newestFirst } from '../common/query-support.js';
import type { ListAllocationsQuery } from './dto/allocation.request.js';
import { allocationView, reservedUtilizationView, type AllocationView } from './dto/allocation.response.js';
import { reservationStandingView } from '../planning/dto/reservation.response.js';

/**
 * Who may read which allocations (and their usage): admins, operators (who watch the pool's use) and
 * finance users not tied to an agency all of them; everyone else those of projects they belong to,
 * plus — for finance users of an agency — those of the agency's programs.
 */
export type ReadScope =
  { kind: 'all' } | { kind: 'scoped'; userId: string | null; agencyCode: string | null };

export function readScopeOf(principal: Principal): ReadScope {
  if (hasRole(principal, 'admin') || hasRole(principal, 'operator')) return { kind: 'all' };
  if (principal.kind !== 'user') return { kind: 'scoped', userId: null, agencyCode: null };
  if (principal.roles.includes('finance')) {
    return principal.agencyCode === null
      ? { kind: 'all' }
      : { kind: 'scoped', userId: principal.userId, agencyCode: principal.agencyCode };
  }
  return { kind: 'scoped', userId: principal.userId, agencyCode: null };
}

/** Quotas (read side): they are created by the scheduler when a grant is posted. */
@Injectable()
export class AllocationsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly projectAccess: ProjectAccess,
  ) {}

  async list(principal: Principal, query: ListAllocationsQuery): Promise<Page<AllocationView>> {
    const scope = readScopeOf(principal);
    if (query.projectId !== undefined) await this.assertProjectReadable(principal, scope, query.projectId);

    const builder = this.dataSource.getRepository(AllocationEntity).createQueryBuilder('a');
    if (query.projectId !== undefined)
      builder.andWhere('a.project_id = :projectId', { projectId: query.projectId });
    if (query.programId !== undefined)
      builder.andWhere('a.program_id = :programId', { programId: query.programId });
    if (query.status !== undefined) builder.andWhere('a.status = :status', { status: query.status });
    if (scope.kind === 'scoped') {
      builder.andWhere(
        new Brackets((visible) => {
          visible.where(
            'a.project_id IN (SELECT m.project_id FROM project_members m WHERE m.user_id = :scopeUserId)',
            {
              scopeUserId: scope.userId,
            },
          );
          if (scope.agencyCode !== null) {
            visible.orWhere(
              'a.program_id IN (SELECT p.id FROM programs p WHERE p.agency_code = :scopeAgencyCode)',
              {
                scopeAgencyCode: scope.agencyCode,
              },
            );
          }
        }),
      );
    }
    const rows = await newestFirst(builder, query).getMany();
    const page = rows.slice(0, query.limit);
    const balances = await this.balancesOf(
      this.dataSource.manager,
      page.map((row) => row.id),
    );
    const reservedIds = page.filter((row) => row.kind === 'reserved').map((row) => row.id);
    const standings = await reservationStandings(this.dataSource.manager, reservedIds);
    const usage = await reservedUsage(this.dataSource.manager, reservedIds, new Date());
    return pageOf(rows, query.limit, (row) => {
      const standing = standings.get(row.id);
      const used = usage.get(row.id);
      return {
        ...allocationView(row, balanceOrZero(balances, row.id)),
        reservation: standing ? reservationStandingView(standing) : null,
        utilization: used ? reservedUtilizationView(used.utilization) : null,
      };
    });
  }

  /**
   * One allocation with its balances — and, reserved, its calendar standing and utilization so far;
   * 404 for an allocation the caller may not read (no existence leak).
   */
  async get(principal: Principal, allocationId: string): Promise<AllocationView> {
    const manager = this.dataSource.manager;
    const allocation = await this.readable(principal, allocationId, manager);
    const balances = await this.balancesOf(manager, [allocation.id]);
    const reserved = allocation.kind === 'reserved';
    const standing = reserved
      ? (await reservationStandings(manager, [allocation.id])).get(allocation.id)
      : undefined;
    const usage = reserved
      ? (await reservedUsage(manager, [allocation.id], new Date())).get(allocation.id)
      : undefined;
    return {
      ...allocationView(allocation, balanceOrZero(balances, allocation.id)),
      reservation: standing ? reservationStandingView(standing) : null,
      utilization: usage ? reservedUtilizationView(usage.utilization) : null,
    };
  }

  /** The allocation row if the caller may read it, else 404 NOT_FOUND (for other features, e.g. usage). */
  async readable(
    principal: Principal,
    allocationId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<AllocationEntity> {
    const allocation = await manager.getRepository(AllocationEntity).findOne({ where: { id: allocationId } });
    if (!allocation || !(await this.mayRead(principal, allocation, manager)))
      throw notFound('Allocation', allocationId);
    return allocation;
  }

  /**
   * A projectId filter the caller may use: 404 when they cannot see the project (finance users of an
   * agency may name any existing project; what they read is still limited to their agency's programs).
   */
  async assertProjectFilterReadable(principal: Principal, projectId: string): Promise<void> {
    await this.assertProjectReadable(principal, readScopeOf(principal), projectId);
  }

  private async mayRead(
    principal: Principal,
    allocation: AllocationEntity,
    manager: EntityManager,
  ): Promise<boolean> {
    const scope = readScopeOf(principal);
    if (scope.kind === 'all') return true;
    if ((await this.projectAccess.membership(principal, allocation.projectId, manager)) !== null) return true;
    if (scope.agencyCode === null) return false;
    return manager
      .getRepository(ProgramEntity)
      .exists({ where: { id: allocation.programId, agencyCode: scope.agencyCode } });
  }

  /**
   * A projectId the caller cannot see is a 404, not an empty list. Finance users of an agency may
   * name any existing project: the list is still limited to their agency's programs.
   */
  private async assertProjectReadable(
    principal: Principal,
    scope: ReadScope,
    projectId: string,
  ): Promise<void> {
    if (scope.kind === 'all') {
      if (!(await this.dataSource.getRepository(ProjectEntity).exists({ where: { id: projectId } })))
        throw notFound('Project', projectId);
      return;
    }
    try {
      await this.projectAccess.assertVisible(principal, projectId);
    } catch (error) {
      const agencyMayLook =
        isDomainError(error) &&
        error.kind === 'not_found' &&
        scope.agencyCode !== null &&
        (await this.dataSource.getRepository(ProjectEntity).exists({ where: { id: projectId } }));
      if (!agencyMayLook) throw error;
    }
  }

  /** Balances of allocations from their ledger accounts, folded by libs/domain's allocationBalance. */
  private async balancesOf(
    manager: EntityManager,
    allocationIds: string[],
  ): Promise<Map<string, AllocationBalance>> {
    const result = new Map<string, AllocationBalance>();
    if (allocationIds.length === 0) return result;
    const accounts = allocationIds.flatMap((id) => [
      allocationAccount(id),
      holdAccount(id),
      consumedAccount(id),
    ]);
    // Summed per account, kind and sign: the domain tells grants from other inflows by kind and sign,
    // so these sums fold to exactly what the individual entries would.
    const rows = await manager.query<
      { account: string; kind: string; inflow: string | null; outflow: string | null }[]
    >(
      `SELECT e.account, t.kind,
              (SUM(e.amount) FILTER (WHERE e.amount > 0))::text AS inflow,
              (SUM(e.amount) FILTER (WHERE e.amount < 0))::text AS outflow
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account = ANY($1)
        GROUP BY e.account, t.kind`,
      [accounts],
    );
    const postings: LedgerPosting[] = [];
    for (const row of rows) {
      if (!isLedgerTransactionKind(row.kind))
        throw new Error(`ledger transaction kind "${row.kind}" is unknown to libs/domain`);
      if (row.inflow !== null)
        postings.push({ account: row.account, kind: row.kind, amount: BigInt(row.inflow) });
      if (row.outflow !== null)
        postings.push({ account: row.account, kind: row.kind, amount: BigInt(row.outflow) });
    }
    for (const id of allocationIds) result.set(id, allocationBalance(postings, id));
    return result;
  }
}

function isLedgerTransactionKind(kind: string): kind is LedgerTransactionKind {
  return (LEDGER_TRANSACTION_KINDS as readonly string[]).includes(kind);
}

function balanceOrZero(balances: Map<string, AllocationBalance>, allocationId: string): AllocationBalance {
  return balances.get(allocationId) ?? { granted: 0n, held: 0n, consumed: 0n, returned: 0n, remaining: 0n };
}
