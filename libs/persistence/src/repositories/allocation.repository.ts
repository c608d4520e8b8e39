import { Injectable } from '@nestjs/common';
import { Brackets, DataSource } from 'typeorm';
import type { AllocationReadScope } from '#domain';
import { AllocationEntity } from '../entities/allocation.entities.js';
import { ProgramEntity } from '../entities/program.entities.js';
import { newestFirst, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { projectScopeCondition, projectScopeSql } from './project-scope.sql.js';
import { reservedUsage, type ReservedUsage } from './recall.repository.js';
import { reservationStandings, type ReservationStanding } from './reservation.repository.js';

export interface AllocationFilter {
  projectId?: string;
  programId?: string;
  status?: string;
}

export interface AllocationStatusChange {
  status: string;
  statusReason: string | null;
  statusChangedAt: Date | null;
}

/**
 * The SQL form of an allocation read scope for positional SQL: the project scope
 * (projectScopeSql), widened for finance users of an agency to the rows of the agency's programs.
 */
export function allocationReadSql(
  scope: AllocationReadScope,
  columns: { projectId: string; programId: string },
  nextParameter: (value: string) => string,
): string {
  if (scope.kind === 'all') return 'TRUE';
  const projects = projectScopeSql(scope.projects, columns.projectId, nextParameter);
  if (scope.agencyCode === null) return `(${projects})`;
  return (
    `(${projects} OR ${columns.programId} IN ` +
    `(SELECT scope_p.id FROM programs scope_p WHERE scope_p.agency_code = ${nextParameter(scope.agencyCode)}))`
  );
}

/** Allocations (quotas): their rows, read scope, calendar standing and status changes. */
export abstract class AllocationRepository {
  abstract findById(id: string, tx?: Tx): Promise<AllocationEntity | null>;
  /** A newest-first page (limit + 1 rows) of the allocations the scope may read. */
  abstract list(
    filter: AllocationFilter,
    scope: AllocationReadScope,
    page: PageQuery,
  ): Promise<AllocationEntity[]>;
  abstract programInAgency(programId: string, agencyCode: string, tx?: Tx): Promise<boolean>;
  /** Calendar standings of reserved allocations (absent: no plan). */
  abstract standings(allocationIds: readonly string[], tx?: Tx): Promise<Map<string, ReservationStanding>>;
  abstract reservedUsage(
    allocationIds: readonly string[],
    now: Date,
    tx?: Tx,
  ): Promise<Map<string, ReservedUsage>>;
  /** The row FOR UPDATE (it must exist). */
  abstract lockById(tx: Tx, id: string): Promise<AllocationEntity>;
  abstract updateStatus(tx: Tx, id: string, change: AllocationStatusChange): Promise<void>;
  /** The program's on_exhaustion policy ('finish' | 'stop'). */
  abstract onExhaustionOf(tx: Tx, programId: string): Promise<string>;
  /** The transaction's clock at millisecond precision (the status column's). */
  abstract transactionNow(tx: Tx): Promise<Date>;
}

@Injectable()
export class TypeormAllocationRepository extends AllocationRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override findById(id: string, tx: Tx = this.dataSource.manager): Promise<AllocationEntity | null> {
    return tx.getRepository(AllocationEntity).findOne({ where: { id } });
  }

  override list(
    filter: AllocationFilter,
    scope: AllocationReadScope,
    page: PageQuery,
  ): Promise<AllocationEntity[]> {
    const builder = this.dataSource.getRepository(AllocationEntity).createQueryBuilder('a');
    if (filter.projectId !== undefined)
      builder.andWhere('a.project_id = :projectId', { projectId: filter.projectId });
    if (filter.programId !== undefined)
      builder.andWhere('a.program_id = :programId', { programId: filter.programId });
    if (filter.status !== undefined) builder.andWhere('a.status = :status', { status: filter.status });
    if (scope.kind === 'scoped') {
      const projects = projectScopeCondition(scope.projects, 'a.project_id');
      const agencyCode = scope.agencyCode;
      builder.andWhere(
        new Brackets((visible) => {
          visible.where(projects.sql, projects.params);
          if (agencyCode !== null) {
            visible.orWhere(
              'a.program_id IN (SELECT p.id FROM programs p WHERE p.agency_code = :scopeAgencyCode)',
              { scopeAgencyCode: agencyCode },
            );
          }
        }),
      );
    }
    return newestFirst(builder, page).getMany();
  }

  override programInAgency(
    programId: string,
    agencyCode: string,
    tx: Tx = this.dataSource.manager,
  ): Promise<boolean> {
    return tx.getRepository(ProgramEntity).exists({ where: { id: programId, agencyCode } });
  }

  override standings(
    allocationIds: readonly string[],
    tx: Tx = this.dataSource.manager,
  ): Promise<Map<string, ReservationStanding>> {
    return reservationStandings(tx, allocationIds);
  }

  override reservedUsage(
    allocationIds: readonly string[],
    now: Date,
    tx: Tx = this.dataSource.manager,
  ): Promise<Map<string, ReservedUsage>> {
    return reservedUsage(tx, allocationIds, now);
  }

  override lockById(tx: Tx, id: string): Promise<AllocationEntity> {
    return tx.getRepository(AllocationEntity).findOneOrFail({
      where: { id },
      lock: { mode: 'pessimistic_write' },
    });
  }

  override async updateStatus(tx: Tx, id: string, change: AllocationStatusChange): Promise<void> {
    await tx.getRepository(AllocationEntity).update(id, change);
  }

  override async onExhaustionOf(tx: Tx, programId: string): Promise<string> {
    const program = await tx.getRepository(ProgramEntity).findOneOrFail({ where: { id: programId } });
    return program.onExhaustion;
  }

  override async transactionNow(tx: Tx): Promise<Date> {
    const rows = await tx.query<{ now: Date }[]>("SELECT date_trunc('milliseconds', now()) AS now");
    return new Date(rows[0]?.now ?? Date.now());
  }
}
