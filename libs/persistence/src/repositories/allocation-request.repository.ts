import { Injectable } from '@nestjs/common';
import { Brackets, DataSource, In } from 'typeorm';
import type { PoolShape, ProjectScope } from '#domain';
import {
  AllocationEntity,
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  GrantIntentEntity,
  OrganizationEntity,
  ProjectEntity,
  ReviewEntity,
  UserEntity,
} from '../entities/index.js';
import { encodeCursor, newestFirst, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { projectScopeCondition } from './project-scope.sql.js';
import { poolShapes } from './reservation-calendar.repository.js';

/** A request line as written (the database assigns its id). */
export type NewRequestLine = Omit<AllocationRequestLineEntity, 'id' | 'request'>;

export interface NewAllocationRequest {
  projectId: string;
  programId: string;
  startsAt: Date;
  endsAt: Date;
  justification: string;
  createdBy: string;
  sector: string | null;
}

/** The fields a draft's owner may change. */
export type DraftFields = Pick<
  AllocationRequestEntity,
  'programId' | 'startsAt' | 'endsAt' | 'justification' | 'sector'
>;

export interface RequestDecision {
  status: string;
  decidedAt: Date;
  decidedBy: string;
  decisionNote: string | null;
  /** Absent: the request keeps the sector it declared. */
  sector?: string;
}

/** What a decision grants of one line (by GPU model, unique per request). */
export interface LineGrant {
  gpuModel: string;
  grantedGpuSeconds: bigint;
  grantedMaxConcurrentGpus: number | null;
  grantedServers: number | null;
}

/**
 * Which requests a list may show: those of the projects in `projects` (projectScopeCondition),
 * and the non-draft requests of the programs the caller reviews.
 */
export interface RequestListScope {
  projects: ProjectScope;
  reviewerProgramIds: string[];
}

export interface RequestFilters {
  status?: string | undefined;
  programId?: string | undefined;
  projectId?: string | undefined;
}

export interface RankCandidate {
  id: string;
  submittedAt: Date | null;
  createdAt: Date;
}

export interface RequestWithLines {
  request: AllocationRequestEntity;
  lines: AllocationRequestLineEntity[];
}

/** The allocation request rows, their lines and grant intent (the request lifecycle's aggregate). */
export abstract class AllocationRequestRepository {
  /** The request, locked FOR UPDATE until the end of `tx` when `lock`. */
  abstract find(tx: Tx | undefined, id: string, lock?: boolean): Promise<AllocationRequestEntity | null>;
  abstract setStatus(tx: Tx, id: string, status: string): Promise<void>;
  /** Inserts a draft and returns its id. */
  abstract insertDraft(tx: Tx, request: NewAllocationRequest): Promise<string>;
  abstract updateDraft(tx: Tx, id: string, fields: DraftFields): Promise<void>;
  abstract markSubmitted(tx: Tx, id: string, status: string, submittedAt: Date): Promise<void>;
  abstract recordDecision(tx: Tx, id: string, decision: RequestDecision): Promise<void>;

  /** The request's lines in line order. */
  abstract linesOf(tx: Tx | undefined, requestId: string): Promise<AllocationRequestLineEntity[]>;
  abstract insertLines(tx: Tx, lines: NewRequestLine[]): Promise<void>;
  /** Deletes every line of the request, inserts `lines` and returns them as stored. */
  abstract replaceLines(
    tx: Tx,
    requestId: string,
    lines: NewRequestLine[],
  ): Promise<AllocationRequestLineEntity[]>;
  abstract updateLineAmounts(
    tx: Tx,
    lineId: string,
    amounts: { gpuSeconds: bigint; maxConcurrentGpus: number },
  ): Promise<void>;
  abstract recordLineGrant(tx: Tx, requestId: string, grant: LineGrant): Promise<void>;

  /** The grant outbox row the scheduler's grant job (or its reconciler) turns into allocations. */
  abstract insertGrantIntent(tx: Tx, requestId: string): Promise<void>;
  /** The organization type of the requesting project (both rows must exist). */
  abstract organizationTypeOf(tx: Tx, projectId: string): Promise<{ organizationId: string; type: string }>;
  /** The pool's shape per GPU model (reserved lines are sized by it). */
  abstract poolShapes(tx: Tx, gpuModels: readonly string[]): Promise<Map<string, PoolShape>>;

  abstract reviewsOf(requestId: string): Promise<ReviewEntity[]>;
  abstract allocationsOf(requestId: string): Promise<AllocationEntity[]>;
  abstract grantIntentOf(requestId: string): Promise<GrantIntentEntity | null>;
  /** Names of the users by id (missing users are left out). */
  abstract userNames(userIds: string[]): Promise<Map<string, string>>;

  /** One page of request ids, newest first, with the keyset cursor of the next. */
  abstract listPage(
    scope: RequestListScope,
    filters: RequestFilters,
    page: PageQuery,
  ): Promise<{ ids: string[]; nextCursor: string | null }>;
  /** Every request of the filter (at most `limit`), for ranking by score. */
  abstract rankCandidates(
    scope: RequestListScope,
    filters: RequestFilters,
    limit: number,
  ): Promise<RankCandidate[]>;
  abstract withLines(ids: string[]): Promise<Map<string, RequestWithLines>>;
  /** The reviews' weighted scores (× 1000) per request, in review order. */
  abstract reviewMillis(ids: string[]): Promise<Map<string, number[]>>;
}

@Injectable()
export class TypeormAllocationRequestRepository extends AllocationRequestRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override find(tx: Tx | undefined, id: string, lock = false): Promise<AllocationRequestEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(AllocationRequestEntity).findOne({
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  override async setStatus(tx: Tx, id: string, status: string): Promise<void> {
    await tx.getRepository(AllocationRequestEntity).update({ id }, { status });
  }

  override async insertDraft(tx: Tx, request: NewAllocationRequest): Promise<string> {
    const repository = tx.getRepository(AllocationRequestEntity);
    const saved = await repository.save(
      repository.create({
        ...request,
        status: 'draft',
        submittedAt: null,
        decidedAt: null,
        decidedBy: null,
        decisionNote: null,
      }),
    );
    return saved.id;
  }

  override async updateDraft(tx: Tx, id: string, fields: DraftFields): Promise<void> {
    await tx.getRepository(AllocationRequestEntity).update(
      { id },
      {
        programId: fields.programId,
        startsAt: fields.startsAt,
        endsAt: fields.endsAt,
        justification: fields.justification,
        sector: fields.sector,
      },
    );
  }

  override async markSubmitted(tx: Tx, id: string, status: string, submittedAt: Date): Promise<void> {
    await tx.getRepository(AllocationRequestEntity).update({ id }, { status, submittedAt });
  }

  override async recordDecision(tx: Tx, id: string, decision: RequestDecision): Promise<void> {
    await tx.getRepository(AllocationRequestEntity).update(
      { id },
      {
        status: decision.status,
        decidedAt: decision.decidedAt,
        decidedBy: decision.decidedBy,
        decisionNote: decision.decisionNote,
        ...(decision.sector === undefined ? {} : { sector: decision.sector }),
      },
    );
  }

  override linesOf(tx: Tx | undefined, requestId: string): Promise<AllocationRequestLineEntity[]> {
    return (tx ?? this.dataSource.manager)
      .getRepository(AllocationRequestLineEntity)
      .find({ where: { requestId }, order: { lineNo: 'ASC' } });
  }

  override async insertLines(tx: Tx, lines: NewRequestLine[]): Promise<void> {
    await tx.getRepository(AllocationRequestLineEntity).insert(lines);
  }

  override async replaceLines(
    tx: Tx,
    requestId: string,
    lines: NewRequestLine[],
  ): Promise<AllocationRequestLineEntity[]> {
    const repository = tx.getRepository(AllocationRequestLineEntity);
    await repository.delete({ requestId });
    await repository.insert(lines);
    return this.linesOf(tx, requestId);
  }

  override async updateLineAmounts(
    tx: Tx,
    lineId: string,
    amounts: { gpuSeconds: bigint; maxConcurrentGpus: number },
  ): Promise<void> {
    await tx
      .getRepository(AllocationRequestLineEntity)
      .update(
        { id: lineId },
        { gpuSeconds: amounts.gpuSeconds, maxConcurrentGpus: amounts.maxConcurrentGpus },
      );
  }

  override async recordLineGrant(tx: Tx, requestId: string, grant: LineGrant): Promise<void> {
    await tx.getRepository(AllocationRequestLineEntity).update(
      { requestId, gpuModel: grant.gpuModel },
      {
        grantedGpuSeconds: grant.grantedGpuSeconds,
        grantedMaxConcurrentGpus: grant.grantedMaxConcurrentGpus,
        grantedServers: grant.grantedServers,
      },
    );
  }

  override async insertGrantIntent(tx: Tx, requestId: string): Promise<void> {
    await tx.getRepository(GrantIntentEntity).insert({ requestId, status: 'pending', attempts: 0 });
  }

  override async organizationTypeOf(
    tx: Tx,
    projectId: string,
  ): Promise<{ organizationId: string; type: string }> {
    const project = await tx.getRepository(ProjectEntity).findOneOrFail({ where: { id: projectId } });
    const organization = await tx
      .getRepository(OrganizationEntity)
      .findOneOrFail({ where: { id: project.organizationId } });
    return { organizationId: organization.id, type: organization.type };
  }

  override poolShapes(tx: Tx, gpuModels: readonly string[]): Promise<Map<string, PoolShape>> {
    return poolShapes(tx, gpuModels);
  }

  override reviewsOf(requestId: string): Promise<ReviewEntity[]> {
    return this.dataSource
      .getRepository(ReviewEntity)
      .find({ where: { requestId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  override allocationsOf(requestId: string): Promise<AllocationEntity[]> {
    return this.dataSource
      .getRepository(AllocationEntity)
      .find({ where: { requestId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  override grantIntentOf(requestId: string): Promise<GrantIntentEntity | null> {
    return this.dataSource.getRepository(GrantIntentEntity).findOne({ where: { requestId } });
  }

  override async userNames(userIds: string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map();
    const users = await this.dataSource.getRepository(UserEntity).find({ where: { id: In(userIds) } });
    return new Map(users.map((user) => [user.id, user.name]));
  }

  override async listPage(
    scope: RequestListScope,
    filters: RequestFilters,
    page: PageQuery,
  ): Promise<{ ids: string[]; nextCursor: string | null }> {
    const rows = await newestFirst(
      this.filtered(scope, filters).select(['r.id', 'r.createdAt']),
      page,
    ).getMany();
    const last = rows[page.limit - 1];
    return {
      ids: rows.slice(0, page.limit).map((row) => row.id),
      nextCursor: rows.length > page.limit && last ? encodeCursor(last) : null,
    };
  }

  override rankCandidates(
    scope: RequestListScope,
    filters: RequestFilters,
    limit: number,
  ): Promise<RankCandidate[]> {
    return this.filtered(scope, filters)
      .select(['r.id', 'r.submittedAt', 'r.createdAt'])
      .orderBy('r.id')
      .limit(limit)
      .getMany();
  }

  override async withLines(ids: string[]): Promise<Map<string, RequestWithLines>> {
    if (ids.length === 0) return new Map();
    const requests = await this.dataSource
      .getRepository(AllocationRequestEntity)
      .find({ where: { id: In(ids) } });
    const lines = await this.dataSource
      .getRepository(AllocationRequestLineEntity)
      .find({ where: { requestId: In(ids) } });
    return new Map(
      requests.map((request) => [
        request.id,
        { request, lines: lines.filter((line) => line.requestId === request.id) },
      ]),
    );
  }

  override async reviewMillis(ids: string[]): Promise<Map<string, number[]>> {
    if (ids.length === 0) return new Map();
    const rows = await this.dataSource.query<{ request_id: string; millis: number[] }[]>(
      'SELECT request_id, array_agg(weighted_score_milli ORDER BY id) AS millis FROM reviews WHERE request_id = ANY($1) GROUP BY request_id',
      [ids],
    );
    return new Map(rows.map((row) => [row.request_id, row.millis]));
  }

  private filtered(scope: RequestListScope, filters: RequestFilters) {
    const builder = this.dataSource.getRepository(AllocationRequestEntity).createQueryBuilder('r');
    if (scope.projects.kind !== 'all') {
      const projects = projectScopeCondition(scope.projects, 'r.project_id');
      builder.andWhere(
        new Brackets((where) => {
          where.where(projects.sql, projects.params);
          where.orWhere("(r.program_id = ANY(:reviewerPrograms) AND r.status <> 'draft')", {
            reviewerPrograms: scope.reviewerProgramIds,
          });
        }),
      );
    }
    if (filters.status) builder.andWhere('r.status = :status', { status: filters.status });
    if (filters.programId) builder.andWhere('r.program_id = :programId', { programId: filters.programId });
    if (filters.projectId) builder.andWhere('r.project_id = :projectId', { projectId: filters.projectId });
    return builder;
  }
}
