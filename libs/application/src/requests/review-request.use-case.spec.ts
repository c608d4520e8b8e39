import type { DomainError, Principal } from '#domain';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import {
  FakeAllocationRequestRepository,
  FakeProgramReader,
  FakeReviewRepository,
  makeRequest,
  projectAccessWithMembers,
} from '../../../../test/fakes/requests.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { RequestVisibility } from './request-visibility.js';
import { DeclareConflictUseCase, ReviewRequestUseCase } from './review-request.use-case.js';

function person(userId: string, roles: ('admin' | 'reviewer')[] = []): Principal {
  return {
    kind: 'user',
    userId,
    email: `${userId}@example.kr`,
    roles,
    organizationId: null,
    agencyCode: null,
  };
}

const apiToken: Principal = { kind: 'api_token', tokenId: 't', scopes: [], createdBy: 'u-pi' };

function setUp() {
  const transactions = new FakeTransactionRunner();
  const requests = new FakeAllocationRequestRepository();
  const reviews = new FakeReviewRepository();
  const programs = new FakeProgramReader();
  const audit = new FakeAuditRepository();
  const { access } = projectAccessWithMembers();
  const visibility = new RequestVisibility(requests, access, programs);
  const review = new ReviewRequestUseCase(
    transactions,
    visibility,
    requests,
    reviews,
    access,
    programs,
    audit,
  );
  const declare = new DeclareConflictUseCase(transactions, visibility, reviews, audit);
  programs.assign('prog-1', 'u-rev');
  requests.add(makeRequest());
  return { transactions, requests, reviews, programs, audit, visibility, review, declare };
}

const actor = (userId: string, roles: ('admin' | 'reviewer')[] = ['reviewer']) => ({
  principal: person(userId, roles),
  requestId: 'http-1',
});
const scores = { scores: { merit: 8, feasibility: 5 }, comment: 'solid' };

async function refusal(
  promise: Promise<unknown>,
): Promise<{ kind: string; code: string; details?: unknown }> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as DomainError | null;
  if (!error) throw new Error('expected a refusal');
  return error;
}

describe('RequestVisibility', () => {
  it.each([
    ['an admin', person('u-admin', ['admin']), 'submitted', 'admin'],
    ['the PI', person('u-pi'), 'draft', 'member'],
    ['a member', person('u-member'), 'submitted', 'member'],
    ['the assigned reviewer', person('u-rev', ['reviewer']), 'submitted', 'reviewer'],
    ['the assigned reviewer, of a draft', person('u-rev', ['reviewer']), 'draft', null],
    ['a reviewer of another program', person('u-other', ['reviewer']), 'submitted', null],
    ['an API token', apiToken, 'submitted', null],
  ])('%s sees a %s request as %s', async (_who, principal, status, expected) => {
    const { visibility } = setUp();
    expect(await visibility.viewerOf({} as never, principal, makeRequest({ status }))).toBe(expected);
  });

  it('404s a request the caller may not see, and one that does not exist', async () => {
    const { visibility } = setUp();
    expect(await refusal(visibility.load({} as never, person('u-other'), 'req-1'))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await refusal(visibility.load({} as never, person('u-admin', ['admin']), 'nope'))).toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('lets members and admins act for the project, not reviewers', async () => {
    const { visibility } = setUp();
    const asReviewer = await visibility.load({} as never, person('u-rev', ['reviewer']), 'req-1');
    expect(() => visibility.assertActsForProject(asReviewer)).toThrow(
      expect.objectContaining({ code: 'PROJECT_MEMBER_REQUIRED' }) as Error,
    );
    const asMember = await visibility.load({} as never, person('u-member'), 'req-1');
    expect(() => visibility.assertActsForProject(asMember)).not.toThrow();
  });
});

describe('ReviewRequestUseCase', () => {
  it('scores the request, moves it to under_review, locks it and audits the move', async () => {
    const { review, requests, reviews, audit, transactions } = setUp();
    const result = await review.execute(actor('u-rev'), 'req-1', scores);
    // (3·8/10 + 1·5/5)·100 / 4 = 85
    expect(result).toEqual({
      id: 'rev-1',
      weightedScore: { milli: 85_000, display: expect.any(String) as string },
    });
    expect(requests.rows.get('req-1')?.status).toBe('under_review');
    expect(requests.locked).toEqual(['req-1']);
    expect(reviews.reviews).toEqual([
      {
        requestId: 'req-1',
        reviewerId: 'u-rev',
        scores: scores.scores,
        weightedScoreMilli: 85_000,
        comment: 'solid',
      },
    ]);
    expect(audit.events).toMatchObject([
      {
        action: 'request.review_added',
        before: { status: 'submitted' },
        after: { status: 'under_review', reviewId: 'rev-1', weightedScoreMilli: 85_000 },
        requestId: 'http-1',
      },
    ]);
    expect(transactions.runs).toEqual([{ options: {}, outcome: 'committed' }]);
  });

  it('keeps an under_review request under review', async () => {
    const { review, requests, audit } = setUp();
    requests.rows.get('req-1')!.status = 'under_review';
    await review.execute(actor('u-rev'), 'req-1', scores);
    expect(requests.rows.get('req-1')?.status).toBe('under_review');
    expect(audit.events[0]).toMatchObject({
      before: { status: 'under_review' },
      after: { status: 'under_review' },
    });
  });

  it.each(['approved', 'rejected', 'withdrawn'])('refuses to review a %s request', async (status) => {
    const { review, requests, reviews } = setUp();
    requests.rows.get('req-1')!.status = status;
    expect(await refusal(review.execute(actor('u-rev'), 'req-1', scores))).toMatchObject({
      kind: 'conflict',
    });
    expect(reviews.reviews).toEqual([]);
  });

  it('refuses an admin who is not an assigned reviewer', async () => {
    const { review } = setUp();
    expect(await refusal(review.execute(actor('u-admin', ['admin']), 'req-1', scores))).toMatchObject({
      code: 'REVIEWER_REQUIRED',
    });
  });

  it('refuses API tokens', async () => {
    const { review } = setUp();
    const token = {
      principal: { kind: 'api_token', tokenId: 't', scopes: [], createdBy: 'u' } as Principal,
      requestId: null,
    };
    expect(await refusal(review.execute(token, 'req-1', scores))).toMatchObject({ code: 'USER_REQUIRED' });
  });

  it('refuses a reviewer who is a member of the requesting project (conflict of interest)', async () => {
    const { review, programs, reviews, transactions } = setUp();
    programs.assign('prog-1', 'u-member');
    expect(await refusal(review.execute(actor('u-member'), 'req-1', scores))).toMatchObject({
      code: 'CONFLICT_OF_INTEREST',
      details: { reason: 'project_member' },
    });
    expect(reviews.reviews).toEqual([]);
    expect(transactions.runs[0]?.outcome).toBe('rolled back');
  });

  it('refuses a reviewer of the applicant organization', async () => {
    const { review, reviews } = setUp();
    reviews.organizations.set('u-rev', 'org-applicant');
    expect(await refusal(review.execute(actor('u-rev'), 'req-1', scores))).toMatchObject({
      code: 'CONFLICT_OF_INTEREST',
      details: { reason: 'same_organization' },
    });
  });

  it('refuses a reviewer who declared a conflict', async () => {
    const { review, reviews } = setUp();
    reviews.conflicts.push({ requestId: 'req-1', reviewerId: 'u-rev', reason: 'co-author' });
    expect(await refusal(review.execute(actor('u-rev'), 'req-1', scores))).toMatchObject({
      code: 'CONFLICT_OF_INTEREST',
    });
    expect(reviews.reviews).toEqual([]);
  });

  it('refuses a second review by the same reviewer', async () => {
    const { review, reviews } = setUp();
    await review.execute(actor('u-rev'), 'req-1', scores);
    expect(await refusal(review.execute(actor('u-rev'), 'req-1', scores))).toMatchObject({
      code: 'REVIEW_EXISTS',
    });
    expect(reviews.reviews).toHaveLength(1);
  });

  it('refuses incomplete scores against the rubric', async () => {
    const { review, requests, reviews } = setUp();
    expect(
      await refusal(review.execute(actor('u-rev'), 'req-1', { scores: { merit: 8 }, comment: 'x' })),
    ).toMatchObject({ code: 'INVALID_SCORES' });
    expect(reviews.reviews).toEqual([]);
    expect(requests.rows.get('req-1')?.status).toBe('submitted');
  });
});

describe('DeclareConflictUseCase', () => {
  it('records the declaration and audits it without changing the status', async () => {
    const { declare, reviews, audit, requests } = setUp();
    expect(await declare.execute(actor('u-rev'), 'req-1', 'former advisor')).toEqual({
      requestId: 'req-1',
      declared: true,
    });
    expect(reviews.conflicts).toEqual([
      { requestId: 'req-1', reviewerId: 'u-rev', reason: 'former advisor' },
    ]);
    expect(requests.rows.get('req-1')?.status).toBe('submitted');
    expect(audit.events).toMatchObject([
      {
        action: 'request.conflict_declared',
        before: { status: 'submitted' },
        after: { status: 'submitted', reviewerId: 'u-rev', reason: 'former advisor' },
      },
    ]);
  });

  it.each(['approved', 'rejected', 'withdrawn'])('refuses once the request is %s', async (status) => {
    const { declare, requests, reviews } = setUp();
    requests.rows.get('req-1')!.status = status;
    expect(await refusal(declare.execute(actor('u-rev'), 'req-1', 'x'))).toMatchObject({
      code: 'REVIEW_CLOSED',
      details: { status },
    });
    expect(reviews.conflicts).toEqual([]);
  });

  it('refuses a second declaration and non-reviewers', async () => {
    const { declare } = setUp();
    await declare.execute(actor('u-rev'), 'req-1', 'x');
    expect(await refusal(declare.execute(actor('u-rev'), 'req-1', 'x'))).toMatchObject({
      code: 'CONFLICT_ALREADY_DECLARED',
    });
    expect(await refusal(declare.execute(actor('u-member', []), 'req-1', 'x'))).toMatchObject({
      code: 'REVIEWER_REQUIRED',
    });
  });
});
