import { Injectable } from '@nestjs/common';
import {
  assertNoConflictOfInterest,
  conflict,
  DomainError,
  stateAfterReview,
  weightedScore,
  type Principal,
} from '#domain';
import {
  AllocationRequestRepository,
  AuditRepository,
  ReviewRepository,
  TransactionRunner,
  type Tx,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { ProgramReader } from '../directory/program-reader.js';
import { AUDIT_SUBJECT, RequestVisibility, stateOf, userIdOf } from './request-visibility.js';

export interface RequestActor {
  principal: Principal;
  requestId: string | null;
}

export interface ReviewInput {
  scores: Record<string, number>;
  comment: string;
}

export interface ReviewAdded {
  id: string;
  weightedScore: { milli: number; display: string };
}

const OPEN_FOR_REVIEW: readonly string[] = ['submitted', 'under_review'];

/** A reviewer assigned to the request's program scores it; the first review moves it from submitted to under_review. */
@Injectable()
export class ReviewRequestUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly requests: AllocationRequestRepository,
    private readonly reviews: ReviewRepository,
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramReader,
    private readonly audit: AuditRepository,
  ) {}

  async execute(actor: RequestActor, id: string, input: ReviewInput): Promise<ReviewAdded> {
    const reviewerId = userIdOf(actor.principal);
    return this.transactions.run(async (tx) => {
      const { request } = await this.visibility.load(tx, actor.principal, id, true);
      await this.visibility.assertAssignedReviewer(tx, request.programId, reviewerId);
      const from = stateOf(request);
      const to = stateAfterReview(from);
      await this.assertNoConflict(tx, actor.principal, reviewerId, request.projectId, id);
      if (await this.reviews.hasReview(tx, id, reviewerId)) {
        throw conflict(
          'REVIEW_EXISTS',
          'You have already reviewed this request; each reviewer reviews a request once.',
        );
      }
      const rules = await this.programs.loadRules(tx, request.programId);
      const score = weightedScore(rules.rubric, input.scores);
      const reviewId = await this.reviews.insertReview(tx, {
        requestId: id,
        reviewerId,
        scores: input.scores,
        weightedScoreMilli: score.milli,
        comment: input.comment,
      });
      if (to !== from) await this.requests.setStatus(tx, id, to);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'request.review_added',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to, reviewId, weightedScoreMilli: score.milli },
        requestId: actor.requestId,
      });
      return { id: reviewId, weightedScore: score };
    });
  }

  private async assertNoConflict(
    tx: Tx,
    principal: Principal,
    reviewerId: string,
    projectId: string,
    requestId: string,
  ): Promise<void> {
    if ((await this.projects.membership(principal, projectId, tx)) !== null) {
      throw new DomainError(
        'forbidden',
        'CONFLICT_OF_INTEREST',
        'You are a member of the requesting project, so you cannot review it.',
        { reason: 'project_member' },
      );
    }
    const organizations = await this.reviews.organizationsOf(tx, reviewerId, projectId);
    assertNoConflictOfInterest({
      reviewerOrganizationId: organizations.reviewerOrganizationId,
      requestOrganizationId: organizations.projectOrganizationId,
      declaredConflict: await this.reviews.hasConflict(tx, requestId, reviewerId),
    });
  }
}

/** A reviewer declares a conflict of interest; from then on they cannot review the request. */
@Injectable()
export class DeclareConflictUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly reviews: ReviewRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    actor: RequestActor,
    id: string,
    reason: string,
  ): Promise<{ requestId: string; declared: true }> {
    const reviewerId = userIdOf(actor.principal);
    await this.transactions.run(async (tx) => {
      const { request } = await this.visibility.load(tx, actor.principal, id, true);
      await this.visibility.assertAssignedReviewer(tx, request.programId, reviewerId);
      if (!OPEN_FOR_REVIEW.includes(request.status)) {
        throw conflict(
          'REVIEW_CLOSED',
          `The request is ${request.status}; conflicts are declared while it is open for review.`,
          { status: request.status },
        );
      }
      if (await this.reviews.hasConflict(tx, id, reviewerId)) {
        throw conflict(
          'CONFLICT_ALREADY_DECLARED',
          'You have already declared a conflict of interest with this request.',
        );
      }
      await this.reviews.insertConflict(tx, id, reviewerId, reason);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'request.conflict_declared',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: request.status },
        after: { status: request.status, reviewerId, reason },
        requestId: actor.requestId,
      });
    });
    return { requestId: id, declared: true };
  }
}
