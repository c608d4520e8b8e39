import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { assertNoConflictOfInterest, conflict, DomainError, stateAfterReview, weightedScore } from '#domain';
import {
  AllocationRequestEntity,
  ConflictDeclarationEntity,
  ProjectEntity,
  ReviewEntity,
  UserEntity,
} from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { ProjectAccess } from '#application';
import type { ConflictRequestBody, ReviewRequestBody } from './dto/review.request.js';
import { ProgramRulesReader } from './program-rules.reader.js';
import { AUDIT_SUBJECT, RequestAccess, stateOf, userIdOf } from './request-access.service.js';

interface Context {
  principal: Principal;
  requestId: string | null;
}

const OPEN_FOR_REVIEW: readonly string[] = ['submitted', 'under_review'];

/** Reviews and conflict-of-interest declarations by the reviewers assigned to a request's program. */
@Injectable()
export class ReviewsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly access: RequestAccess,
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramRulesReader,
    private readonly audit: AuditService,
  ) {}

  /** Scores the request; the first review moves it from submitted to under_review. */
  async review(
    context: Context,
    id: string,
    body: ReviewRequestBody,
  ): Promise<{ id: string; weightedScore: { milli: number; display: string } }> {
    const reviewerId = userIdOf(context.principal);
    return this.dataSource.transaction(async (manager) => {
      const { request } = await this.access.load(manager, context.principal, id, true);
      await this.assertAssignedReviewer(manager, request.programId, reviewerId);
      const from = stateOf(request);
      const to = stateAfterReview(from);
      await this.assertNoConflict(manager, context.principal, reviewerId, request.projectId, id);
      if (await manager.getRepository(ReviewEntity).exists({ where: { requestId: id, reviewerId } })) {
        throw conflict(
          'REVIEW_EXISTS',
          'You have already reviewed this request; each reviewer reviews a request once.',
        );
      }
      const rules = await this.programs.loadRules(manager, request.programId);
      const score = weightedScore(rules.rubric, body.scores);
      const inserted = await manager.getRepository(ReviewEntity).insert({
        requestId: id,
        reviewerId,
        scores: body.scores,
        weightedScoreMilli: score.milli,
        comment: body.comment,
      });
      const reviewId = (inserted.identifiers[0] as { id: string }).id;
      if (to !== from) {
        await manager.getRepository(AllocationRequestEntity).update({ id }, { status: to });
      }
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.review_added',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to, reviewId, weightedScoreMilli: score.milli },
        requestId: context.requestId,
      });
      return { id: reviewId, weightedScore: score };
    });
  }

  /** A reviewer declares a conflict of interest; from then on they cannot review the request. */
  async declareConflict(
    context: Context,
    id: string,
    body: ConflictRequestBody,
  ): Promise<{ requestId: string; declared: true }> {
    const reviewerId = userIdOf(context.principal);
    await this.dataSource.transaction(async (manager) => {
      const { request } = await this.access.load(manager, context.principal, id, true);
      await this.assertAssignedReviewer(manager, request.programId, reviewerId);
      if (!OPEN_FOR_REVIEW.includes(request.status)) {
        throw conflict(
          'REVIEW_CLOSED',
          `The request is ${request.status}; conflicts are declared while it is open for review.`,
          {
            status: request.status,
          },
        );
      }
      const declarations = manager.getRepository(ConflictDeclarationEntity);
      if (await declarations.exists({ where: { requestId: id, reviewerId } })) {
        throw conflict(
          'CONFLICT_ALREADY_DECLARED',
          'You have already declared a conflict of interest with this request.',
        );
      }
      await declarations.insert({ requestId: id, reviewerId, reason: body.reason });
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.conflict_declared',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: request.status },
        after: { status: request.status, reviewerId, reason: body.reason },
        requestId: context.requestId,
      });
    });
    return { requestId: id, declared: true };
  }

  private async assertAssignedReviewer(
    manager: EntityManager,
    programId: string,
    userId: string,
  ): Promise<void> {
    if (!(await this.programs.isReviewer(manager, programId, userId))) {
      throw new DomainError(
        'forbidden',
        'REVIEWER_REQUIRED',
        "Only reviewers assigned to the request's program can do this.",
      );
    }
  }

  private async assertNoConflict(
    manager: EntityManager,
    principal: Principal,
    reviewerId: string,
    projectId: string,
    requestId: string,
  ): Promise<void> {
    if ((await this.projects.membership(principal, projectId, manager)) !== null) {
      throw new DomainError(
        'forbidden',
        'CONFLICT_OF_INTEREST',
        'You are a member of the requesting project, so you cannot review it.',
        {
          reason: 'project_member',
        },
      );
    }
    const reviewer = await manager.getRepository(UserEntity).findOneOrFail({ where: { id: reviewerId } });
    const project = await manager.getRepository(ProjectEntity).findOneOrFail({ where: { id: projectId } });
    assertNoConflictOfInterest({
      reviewerOrganizationId: reviewer.organizationId,
      requestOrganizationId: project.organizationId,
      declaredConflict: await manager
        .getRepository(ConflictDeclarationEntity)
        .exists({ where: { requestId, reviewerId } }),
    });
  }
}
