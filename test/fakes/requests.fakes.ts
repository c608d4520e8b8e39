import type { PoolShape, ProgramRules } from '#domain';
import {
  AllocationRequestRepository,
  ReviewRepository,
  type AllocationEntity,
  type AllocationRequestEntity,
  type AllocationRequestLineEntity,
  type DraftFields,
  type GrantIntentEntity,
  type LineGrant,
  type NewAllocationRequest,
  type NewRequestLine,
  type NewReview,
  type ProgramEntity,
  type RankCandidate,
  type RequestDecision,
  type RequestWithLines,
  type ReviewEntity,
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

/**
 * Requests and their lines by id, in memory; records which loads asked for a row lock, the grant
 * intents written and the lines' grants. The list reads are not used by unit tests.
 */
export class FakeAllocationRequestRepository extends AllocationRequestRepository {
  readonly rows = new Map<string, AllocationRequestEntity>();
  readonly lines = new Map<string, AllocationRequestLineEntity[]>();
  readonly locked: string[] = [];
  readonly grantIntents: string[] = [];
  readonly organizationTypes = new Map<string, string>();
  readonly shapes = new Map<string, PoolShape>();
  private nextId = 1;

  add(
    request: AllocationRequestEntity,
    lines: Partial<AllocationRequestLineEntity>[] = [],
  ): AllocationRequestEntity {
    this.rows.set(request.id, request);
    this.lines.set(
      request.id,
      lines.map((line, index) =>
        makeLine({ requestId: request.id, lineNo: index + 1, id: `${request.id}-l${index + 1}`, ...line }),
      ),
    );
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

  override insertDraft(_tx: Tx, request: NewAllocationRequest): Promise<string> {
    const id = `req-new-${this.nextId++}`;
    this.rows.set(
      id,
      makeRequest({
        ...request,
        id,
        status: 'draft',
        submittedAt: null,
        decidedAt: null,
        decidedBy: null,
        decisionNote: null,
      }),
    );
    return Promise.resolve(id);
  }

  override updateDraft(_tx: Tx, id: string, fields: DraftFields): Promise<void> {
    Object.assign(this.rows.get(id) ?? {}, fields);
    return Promise.resolve();
  }

  override markSubmitted(_tx: Tx, id: string, status: string, submittedAt: Date): Promise<void> {
    Object.assign(this.rows.get(id) ?? {}, { status, submittedAt });
    return Promise.resolve();
  }

  override recordDecision(_tx: Tx, id: string, decision: RequestDecision): Promise<void> {
    Object.assign(this.rows.get(id) ?? {}, decision);
    return Promise.resolve();
  }

  override linesOf(_tx: Tx | undefined, requestId: string): Promise<AllocationRequestLineEntity[]> {
    return Promise.resolve((this.lines.get(requestId) ?? []).map((line) => ({ ...line })));
  }

  override insertLines(_tx: Tx, lines: NewRequestLine[]): Promise<void> {
    for (const line of lines) {
      const stored = this.lines.get(line.requestId) ?? [];
      stored.push({ ...line, id: `${line.requestId}-l${line.lineNo}` });
      this.lines.set(line.requestId, stored);
    }
    return Promise.resolve();
  }

  override async replaceLines(
    tx: Tx,
    requestId: string,
    lines: NewRequestLine[],
  ): Promise<AllocationRequestLineEntity[]> {
    this.lines.set(requestId, []);
    await this.insertLines(tx, lines);
    return this.linesOf(tx, requestId);
  }

  override updateLineAmounts(
    _tx: Tx,
    lineId: string,
    amounts: { gpuSeconds: bigint; maxConcurrentGpus: number },
  ): Promise<void> {
    for (const lines of this.lines.values())
      for (const line of lines) if (line.id === lineId) Object.assign(line, amounts);
    return Promise.resolve();
  }

  override recordLineGrant(_tx: Tx, requestId: string, grant: LineGrant): Promise<void> {
    const line = this.lines.get(requestId)?.find((candidate) => candidate.gpuModel === grant.gpuModel);
    if (line) Object.assign(line, grant);
    return Promise.resolve();
  }

  override insertGrantIntent(_tx: Tx, requestId: string): Promise<void> {
    this.grantIntents.push(requestId);
    return Promise.resolve();
  }

  override organizationTypeOf(_tx: Tx, projectId: string): Promise<{ organizationId: string; type: string }> {
    return Promise.resolve({
      organizationId: 'org-applicant',
      type: this.organizationTypes.get(projectId) ?? 'university',
    });
  }

  override poolShapes(_tx: Tx, gpuModels: readonly string[]): Promise<Map<string, PoolShape>> {
    return Promise.resolve(
      new Map(
        gpuModels.flatMap((model) => (this.shapes.has(model) ? [[model, this.shapes.get(model)!]] : [])),
      ),
    );
  }

  override reviewsOf(): Promise<ReviewEntity[]> {
    return Promise.resolve([]);
  }

  override allocationsOf(): Promise<AllocationEntity[]> {
    return Promise.resolve([]);
  }

  override grantIntentOf(): Promise<GrantIntentEntity | null> {
    return Promise.resolve(null);
  }

  override userNames(): Promise<Map<string, string>> {
    return Promise.resolve(new Map<string, string>());
  }

  override listPage(): Promise<{ ids: string[]; nextCursor: string | null }> {
    return Promise.reject(new Error('FakeAllocationRequestRepository.listPage is not used by unit tests'));
  }

  override rankCandidates(): Promise<RankCandidate[]> {
    return Promise.reject(
      new Error('FakeAllocationRequestRepository.rankCandidates is not used by unit tests'),
    );
  }

  override withLines(): Promise<Map<string, RequestWithLines>> {
    return Promise.reject(new Error('FakeAllocationRequestRepository.withLines is not used by unit tests'));
  }

  override reviewMillis(): Promise<Map<string, number[]>> {
    return Promise.reject(
      new Error('FakeAllocationRequestRepository.reviewMillis is not used by unit tests'),
    );
  }
}

/** A budget line of 100 H100 GPU-hours, at most 8 at a time, not yet decided. */
export function makeLine(values: Partial<AllocationRequestLineEntity> = {}): AllocationRequestLineEntity {
  return {
    id: 'req-1-l1',
    requestId: 'req-1',
    lineNo: 1,
    gpuModel: 'H100',
    kind: 'budget',
    gpuSeconds: 100n * 3600n,
    maxConcurrentGpus: 8,
    grantedGpuSeconds: null,
    grantedMaxConcurrentGpus: null,
    servers: null,
    startsAt: null,
    endsAt: null,
    sameInterconnectDomain: false,
    grantedServers: null,
    ...values,
  };
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

  override isReviewer(_tx: Tx | undefined, programId: string, userId: string): Promise<boolean> {
    return Promise.resolve(this.reviewers.has(`${programId}/${userId}`));
  }

  override loadRules(): Promise<ProgramRules> {
    return Promise.resolve(this.rules as ProgramRules);
  }

  /** Programs that exist, and what each has left per GPU model (net of pending grants, as ProgramReader's). */
  readonly existing = new Set<string>(['prog-1']);
  readonly left = new Map<string, Record<string, bigint>>();
  readonly lockedPrograms: string[] = [];

  override programExists(_tx: Tx, programId: string): Promise<boolean> {
    return Promise.resolve(this.existing.has(programId));
  }

  override budgetLeft(_tx: Tx, programId: string): Promise<Record<string, bigint>> {
    return Promise.resolve({ ...(this.left.get(programId) ?? {}) });
  }

  override lockProgram(_tx: Tx, programId: string): Promise<ProgramEntity> {
    this.lockedPrograms.push(programId);
    return Promise.resolve({ id: programId } as ProgramEntity);
  }
}

/** A project p-1 with PI u-pi and member u-member, and ProjectAccess over it. */
export function projectAccessWithMembers(): { access: ProjectAccess; store: DirectoryStore } {
  const store = new DirectoryStore();
  store.addMember({ projectId: 'p-1', userId: 'u-pi', role: 'pi' });
  store.addMember({ projectId: 'p-1', userId: 'u-member', role: 'member' });
  return { access: new ProjectAccess(new FakeProjectMembershipRepository(store)), store };
}
