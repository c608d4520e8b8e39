import { Injectable } from '@nestjs/common';
import { ConflictDeclarationEntity, ProjectEntity, ReviewEntity, UserEntity } from '../entities/index.js';
import type { Tx } from '../transaction.js';

export interface NewReview {
  requestId: string;
  reviewerId: string;
  scores: Record<string, number>;
  weightedScoreMilli: number;
  comment: string;
}

/** Reviews and conflict-of-interest declarations of allocation requests. */
export abstract class ReviewRepository {
  abstract hasReview(tx: Tx, requestId: string, reviewerId: string): Promise<boolean>;
  /** Inserts the review and returns its id. */
  abstract insertReview(tx: Tx, review: NewReview): Promise<string>;
  abstract hasConflict(tx: Tx, requestId: string, reviewerId: string): Promise<boolean>;
  abstract insertConflict(tx: Tx, requestId: string, reviewerId: string, reason: string): Promise<void>;
  /** The reviewer's organization and the requesting project's (both rows must exist). */
  abstract organizationsOf(
    tx: Tx,
    reviewerId: string,
    projectId: string,
  ): Promise<{ reviewerOrganizationId: string | null; projectOrganizationId: string }>;
}

@Injectable()
export class TypeormReviewRepository extends ReviewRepository {
  override hasReview(tx: Tx, requestId: string, reviewerId: string): Promise<boolean> {
    return tx.getRepository(ReviewEntity).exists({ where: { requestId, reviewerId } });
  }

  override async insertReview(tx: Tx, review: NewReview): Promise<string> {
    const inserted = await tx.getRepository(ReviewEntity).insert(review);
    return (inserted.identifiers[0] as { id: string }).id;
  }

  override hasConflict(tx: Tx, requestId: string, reviewerId: string): Promise<boolean> {
    return tx.getRepository(ConflictDeclarationEntity).exists({ where: { requestId, reviewerId } });
  }

  override async insertConflict(
    tx: Tx,
    requestId: string,
    reviewerId: string,
    reason: string,
  ): Promise<void> {
    await tx.getRepository(ConflictDeclarationEntity).insert({ requestId, reviewerId, reason });
  }

  override async organizationsOf(
    tx: Tx,
    reviewerId: string,
    projectId: string,
  ): Promise<{ reviewerOrganizationId: string | null; projectOrganizationId: string }> {
    const reviewer = await tx.getRepository(UserEntity).findOneOrFail({ where: { id: reviewerId } });
    const project = await tx.getRepository(ProjectEntity).findOneOrFail({ where: { id: projectId } });
    return { reviewerOrganizationId: reviewer.organizationId, projectOrganizationId: project.organizationId };
  }
}
