import { Injectable } from '@nestjs/common';
import { hasRole, invalid, rankByScore, type Principal, type RequestViewer } from '#domain';
import {
  AllocationRequestRepository,
  AuditRepository,
  emptyPage,
  type AllocationEntity,
  type AllocationRequestEntity,
  type AllocationRequestLineEntity,
  type AuditEventEntity,
  type GrantIntentEntity,
  type Page,
  type PageQuery,
  type RequestFilters,
  type ReviewEntity,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { ProgramReader } from '../directory/program-reader.js';
import { AUDIT_SUBJECT, RequestVisibility } from './request-visibility.js';

/** A request with everything its detail view shows, and who is looking. */
export interface RequestDetail {
  request: AllocationRequestEntity;
  lines: AllocationRequestLineEntity[];
  reviews: ReviewEntity[];
  allocations: AllocationEntity[];
  grantIntent: GrantIntentEntity | null;
  history: AuditEventEntity[];
  actorNames: Map<string, string>;
  viewer: RequestViewer;
  viewerUserId: string | null;
}

/** One row of a list: the request, its lines, its reviews' scores and the caller's view of it. */
export interface RequestSummary {
  request: AllocationRequestEntity;
  lines: AllocationRequestLineEntity[];
  reviewMillis: number[];
  viewer: RequestViewer;
  /** Only when ranked by score. */
  rank?: number;
}

export interface RequestListQuery extends RequestFilters, PageQuery {
  sort: 'created' | 'score';
}

/** Ranking loads every candidate of the filter; beyond this a caller must narrow it (e.g. by program). */
export const MAX_RANKED = 20_000;

function encodeOffset(offset: number): string {
  return Buffer.from(`rank|${offset}`, 'utf8').toString('base64url');
}

function decodeOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^rank\|(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1])
    throw invalid('INVALID_CURSOR', 'The cursor is not one this API issued; start again without it.');
  return Number(match[1]);
}

/**
 * Allocation requests as people read them. Members see their projects' requests, reviewers the
 * submitted requests of their programs, admins all; a request one may not see is a 404.
 */
@Injectable()
export class RequestQueries {
  constructor(
    private readonly requests: AllocationRequestRepository,
    private readonly visibility: RequestVisibility,
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramReader,
    private readonly audit: AuditRepository,
  ) {}

  async get(principal: Principal, id: string): Promise<RequestDetail> {
    const { request, viewer } = await this.visibility.load(undefined, principal, id);
    const lines = await this.requests.linesOf(undefined, id);
    const reviews = await this.requests.reviewsOf(id);
    const allocations = await this.requests.allocationsOf(id);
    const grantIntent = await this.requests.grantIntentOf(id);
    const history = await this.audit.history(AUDIT_SUBJECT, id);
    const actorIds = [
      ...new Set(history.filter((e) => e.actorKind === 'user' && e.actorId).map((e) => e.actorId as string)),
    ];
    return {
      request,
      lines,
      reviews,
      allocations,
      grantIntent,
      history,
      actorNames: await this.requests.userNames(actorIds),
      viewer,
      viewerUserId: principal.kind === 'user' ? principal.userId : null,
    };
  }

  /** `sort=score` ranks the whole filtered set by average weighted score (rankByScore) and pages through it. */
  async list(principal: Principal, query: RequestListQuery): Promise<Page<RequestSummary>> {
    const isAdmin = hasRole(principal, 'admin');
    let memberProjects = new Set<string>();
    let reviewerProgramIds: string[] = [];
    if (!isAdmin) {
      const projectIds = await this.projects.visibleProjectIds(principal);
      memberProjects = new Set(projectIds === 'all' ? [] : projectIds);
      reviewerProgramIds =
        principal.kind === 'user'
          ? await this.programs.activeReviewerProgramIds(undefined, principal.userId)
          : [];
      if (memberProjects.size === 0 && reviewerProgramIds.length === 0) return emptyPage();
    }
    const scope = { projects: this.projects.scopeOf(principal), reviewerProgramIds };
    const filters = { status: query.status, programId: query.programId, projectId: query.projectId };
    const viewerOf = (request: AllocationRequestEntity): RequestViewer =>
      isAdmin ? 'admin' : memberProjects.has(request.projectId) ? 'member' : 'reviewer';

    if (query.sort === 'score') {
      const offset = decodeOffset(query.cursor);
      const candidates = await this.requests.rankCandidates(scope, filters, MAX_RANKED + 1);
      if (candidates.length > MAX_RANKED) {
        throw invalid(
          'TOO_MANY_TO_RANK',
          `More than ${MAX_RANKED} requests match; filter by programId or status to rank them.`,
        );
      }
      const millis = await this.requests.reviewMillis(candidates.map((c) => c.id));
      const ranked = rankByScore(
        candidates.map((candidate) => ({
          requestId: candidate.id,
          submittedAt: candidate.submittedAt ?? candidate.createdAt,
          reviewMillis: millis.get(candidate.id) ?? [],
        })),
      );
      const pageIds = ranked.slice(offset, offset + query.limit);
      const rows = await this.requests.withLines(pageIds.map((entry) => entry.requestId));
      const items = pageIds.flatMap((entry): RequestSummary[] => {
        const row = rows.get(entry.requestId);
        if (!row) return [];
        return [
          {
            request: row.request,
            lines: row.lines,
            reviewMillis: entry.reviewMillis,
            viewer: viewerOf(row.request),
            rank: entry.rank,
          },
        ];
      });
      return {
        items,
        nextCursor: offset + query.limit < ranked.length ? encodeOffset(offset + query.limit) : null,
      };
    }

    const page = await this.requests.listPage(scope, filters, query);
    const rows = await this.requests.withLines(page.ids);
    const millis = await this.requests.reviewMillis(page.ids);
    const items = page.ids.flatMap((id): RequestSummary[] => {
      const row = rows.get(id);
      return row
        ? [
            {
              request: row.request,
              lines: row.lines,
              reviewMillis: millis.get(id) ?? [],
              viewer: viewerOf(row.request),
            },
          ]
        : [];
    });
    return { items, nextCursor: page.nextCursor };
  }
}
