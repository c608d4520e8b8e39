import type { ProgramRules } from '#domain';
import {
  AllocationRequestRepository,
  ReviewRepository,
  type AllocationRequestEntity,
  type NewReview,
  type Tx,
} from '#persistence';
import { ProgramReader, ProjectAccess } from '#application';
import { DirectoryStore, FakeProjectMembershipRepository } from './directory.fakes.js';

export function makeRequest(values: Partial<AllocationRequestEntity> = {}): AllocationRequestEntity {
  return {
    id: 'req-1',
    projectId: 'p-1',
    programId: 'prog-1',
    status: 'submitted',
    ...values,
  } as AllocationRequestEntity;
}

/** Requests by id; records which loads asked for a row lock. */
export class FakeAllocationRequestRepository extends AllocationRequestRepository {
  readonly rows = new Map<string, AllocationRequestEntity>();
  readonly locked: string[] = [];

  add(request: AllocationRequestEntity): AllocationRequestEntity {
    this.rows.set(request.id, request);
    return request;
  }

  override find(_tx: Tx | undefined, id: string, lock = false): Promise<AllocationRequestEntity | null> {
    if (lock) this.locked.push(id);
    return Promise.resolve(this.rows.get(id) ?? null);
  }

  override setStatus(_tx: Tx, id: string, status: string): Promise<void> {
    const row = this.rows.get(id);
    if (row) row.status = status;
    return Promise.resolve();
  }
}

export class FakeReviewRepository extends ReviewRepository {
  readonly reviews: NewReview[] = [];
  readonly conflicts: { requestId: string; reviewerId: string; reason: string }[] = [];
  /** Organization per user id and per project id. */
  readonly organizations = new Map<string, string | null>();

  override hasReview(_tx: Tx, requestId: string, reviewerId: string): Promise<boolean> {
    return Promise.resolve(
      this.reviews.some((r) => r.requestId === requestId && r.reviewerId === reviewerId),
    );
  }

  override insertReview(_tx: Tx, review: NewReview): Promise<string> {
    this.reviews.push(review);
    return Promise.resolve(`rev-${this.reviews.length}`);
  }

  override hasConflict(_tx: Tx, requestId: string, reviewerId: string): Promise<boolean> {
    return Promise.resolve(
      this.conflicts.some((c) => c.requestId === requestId && c.reviewerId === reviewerId),
    );
  }

  override insertConflict(_tx: Tx, requestId: string, reviewerId: string, reason: string): Promise<void> {
    this.conflicts.push({ requestId, reviewerId, reason });
    return Promise.resolve();
  }

  override organizationsOf(
    _tx: Tx,
    reviewerId: string,
    projectId: string,
  ): Promise<{ reviewerOrganizationId: string | null; projectOrganizationId: string }> {
    return Promise.resolve({
      reviewerOrganizationId: this.organizations.get(reviewerId) ?? null,
      projectOrganizationId: this.organizations.get(projectId) ?? 'org-applicant',
    });
  }
}

/** ProgramReader with the reviewer assignments and rubric held in memory. */
export class FakeProgramReader extends ProgramReader {
  readonly reviewers = new Set<string>();
  rules: Pick<ProgramRules, 'rubric'> = {
    rubric: [
      { key: 'merit', label: 'Merit', weight: 3, maxScore: 10 },
      { key: 'feasibility', label: 'Feasibility', weight: 1, maxScore: 5 },
    ],
  };

  constructor() {
    super(null as never, null as never);
  }

  assign(programId: string, userId: string): void {
    this.reviewers.add(`${programId}/${userId}`);
  }

  override isReviewer(_tx: Tx, programId: string, userId: string): Promise<boolean> {
    return Promise.resolve(this.reviewers.has(`${programId}/${userId}`));
  }

  override loadRules(): Promise<ProgramRules> {
    return Promise.resolve(this.rules as ProgramRules);
  }
}

/** A project p-1 with PI u-pi and member u-member, and ProjectAccess over it. */
export function projectAccessWithMembers(): { access: ProjectAccess; store: DirectoryStore } {
  const store = new DirectoryStore();
  store.addMember({ projectId: 'p-1', userId: 'u-pi', role: 'pi' });
  store.addMember({ projectId: 'p-1', userId: 'u-member', role: 'member' });
  return { access: new ProjectAccess(new FakeProjectMembershipRepository(store)), store };
}
