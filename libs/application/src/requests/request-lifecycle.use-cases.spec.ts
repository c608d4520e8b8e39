import type { DomainError, Principal } from '#domain';
import { GrantRepository, type ProjectEntity } from '#persistence';
import type { JobItem } from '#queues';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import {
  FakeAllocationRequestRepository,
  FakeProgramReader,
  makeRequest,
  projectAccessWithMembers,
} from '../../../../test/fakes/requests.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { ApproveRequestUseCase, RejectRequestUseCase } from './decide-request.use-cases.js';
import {
  CreateRequestUseCase,
  UpdateDraftUseCase,
  WithdrawRequestUseCase,
} from './draft-request.use-cases.js';
import { RequestVisibility } from './request-visibility.js';

const HOUR = 3600n;

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
const actor = (userId: string, roles: ('admin' | 'reviewer')[] = []) => ({
  principal: person(userId, roles),
  requestId: 'http-1',
});
const admin = actor('u-admin', ['admin']);

/** Only markEnqueued is part of a decision; the grant job's own methods are not called here. */
class FakeGrantIntents extends GrantRepository {
  readonly enqueued: string[] = [];
  override markEnqueued(requestIds: string[]): Promise<void> {
    this.enqueued.push(...requestIds);
    return Promise.resolve();
  }
  override lockIntent(): never {
    throw new Error('not part of a decision');
  }
  override completeIntent(): never {
    throw new Error('not part of a decision');
  }
  override loadRequest(): never {
    throw new Error('not part of a decision');
  }
  override loadLines(): never {
    throw new Error('not part of a decision');
  }
  override lockProgramBudgets(): never {
    throw new Error('not part of a decision');
  }
  override allocationFor(): never {
    throw new Error('not part of a decision');
  }
  override addPendingPlan(): never {
    throw new Error('not part of a decision');
  }
  override audit(): never {
    throw new Error('not part of a decision');
  }
  override pendingRequestIds(): never {
    throw new Error('not part of a decision');
  }
}

/** Records, for each job, whether the decision's transaction had committed when it was enqueued. */
class CommitAwareProducer extends FakeJobProducer {
  readonly committedAtEnqueue: boolean[] = [];
  constructor(private readonly transactions: FakeTransactionRunner) {
    super();
  }
  override enqueueMany(jobs: JobItem[]): Promise<void> {
    this.committedAtEnqueue.push(this.transactions.runs.at(-1)?.outcome === 'committed');
    return super.enqueueMany(jobs);
  }
}

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as DomainError | null;
  if (!error) throw new Error('expected a refusal');
  return error;
}

function setUp() {
  const transactions = new FakeTransactionRunner();
  const requests = new FakeAllocationRequestRepository();
  const programs = new FakeProgramReader();
  const audit = new FakeAuditRepository();
  const grants = new FakeGrantIntents();
  const producer = new CommitAwareProducer(transactions);
  const { access, store } = projectAccessWithMembers();
  store.projects.set('p-1', { id: 'p-1' } as ProjectEntity);
  const visibility = new RequestVisibility(requests, access, programs);
  programs.assign('prog-1', 'u-rev');
  programs.left.set('prog-1', { H100: 1_000n * HOUR });
  requests.add(makeRequest(), [{ gpuModel: 'H100', gpuSeconds: 100n * HOUR, maxConcurrentGpus: 8 }]);
  return {
    transactions,
    requests,
    programs,
    audit,
    grants,
    producer,
    create: new CreateRequestUseCase(transactions, requests, access, programs, audit),
    update: new UpdateDraftUseCase(transactions, visibility, requests, programs, audit),
    withdraw: new WithdrawRequestUseCase(transactions, visibility, requests, audit),
    approve: new ApproveRequestUseCase(transactions, visibility, requests, programs, grants, audit, producer),
    reject: new RejectRequestUseCase(transactions, visibility, requests, audit),
  };
}

describe('drafting', () => {
  const draft = {
    projectId: 'p-1',
    programId: 'prog-1',
    lines: [{ gpuModel: 'H100', gpuHours: 10, maxConcurrentGpus: 4 }],
    startsAt: '2026-03-01T00:00:00Z',
    endsAt: '2026-06-01T00:00:00Z',
    justification: 'training',
  };

  it('a member drafts a request with its lines in GPU-seconds and audits it', async () => {
    const { create, requests, audit } = setUp();
    const id = await create.execute(actor('u-member'), draft);
    expect(requests.rows.get(id)).toMatchObject({ status: 'draft', createdBy: 'u-member', sector: null });
    expect(requests.lines.get(id)).toMatchObject([{ gpuModel: 'H100', gpuSeconds: 36_000n, lineNo: 1 }]);
    expect(audit.events).toMatchObject([{ action: 'request.created', subjectId: id, before: null }]);
  });

  it('refuses a window that ends before it starts, and an unknown program', async () => {
    const { create, requests } = setUp();
    expect(
      await refusal(create.execute(actor('u-member'), { ...draft, endsAt: draft.startsAt })),
    ).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await refusal(create.execute(actor('u-member'), { ...draft, programId: 'nope' }))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(requests.rows.size).toBe(1);
  });

  it('404s a draft for a project the caller is not a member of', async () => {
    const { create } = setUp();
    expect(await refusal(create.execute(actor('u-outsider'), draft))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('edits only drafts', async () => {
    const { update, requests } = setUp();
    expect(await refusal(update.execute(actor('u-pi'), 'req-1', { justification: 'x' }))).toMatchObject({
      code: 'REQUEST_NOT_DRAFT',
    });
    requests.rows.get('req-1')!.status = 'draft';
    Object.assign(requests.rows.get('req-1')!, {
      startsAt: new Date(draft.startsAt),
      endsAt: new Date(draft.endsAt),
      justification: 'old',
      sector: null,
    });
    await update.execute(actor('u-pi'), 'req-1', { justification: 'new' });
    expect(requests.rows.get('req-1')?.justification).toBe('new');
  });

  it('lets members withdraw, not the assigned reviewer', async () => {
    const { withdraw, requests, audit } = setUp();
    expect(await refusal(withdraw.execute(actor('u-rev', ['reviewer']), 'req-1'))).toMatchObject({
      code: 'PROJECT_MEMBER_REQUIRED',
    });
    await withdraw.execute(actor('u-member'), 'req-1');
    expect(requests.rows.get('req-1')?.status).toBe('withdrawn');
    expect(audit.events).toMatchObject([
      { action: 'request.withdrawn', before: { status: 'submitted' }, after: { status: 'withdrawn' } },
    ]);
  });

  it('refuses to withdraw a decided request', async () => {
    const { withdraw, requests } = setUp();
    requests.rows.get('req-1')!.status = 'approved';
    expect(await refusal(withdraw.execute(actor('u-member'), 'req-1'))).toMatchObject({ kind: 'conflict' });
  });
});

describe('ApproveRequestUseCase', () => {
  it('grants the lines, writes the grant intent, locks request then program, and enqueues after commit', async () => {
    const { approve, requests, programs, audit, producer, grants } = setUp();
    await approve.execute(admin, 'req-1', { note: 'ok' });
    expect(requests.rows.get('req-1')).toMatchObject({
      status: 'approved',
      decidedBy: 'u-admin',
      decisionNote: 'ok',
    });
    expect(requests.lines.get('req-1')?.[0]).toMatchObject({ grantedGpuSeconds: 100n * HOUR });
    expect(requests.grantIntents).toEqual(['req-1']);
    expect(requests.locked).toEqual(['req-1']);
    expect(programs.lockedPrograms).toEqual(['prog-1']);
    expect(audit.actions()).toEqual(['request.approved']);
    expect(producer.jobs).toEqual([{ name: 'grant.allocation', data: { requestId: 'req-1' } }]);
    expect(producer.committedAtEnqueue).toEqual([true]);
    expect(grants.enqueued).toEqual(['req-1']);
  });

  it('grants less line by line as partially_approved', async () => {
    const { approve, requests } = setUp();
    await approve.execute(admin, 'req-1', {
      lines: [{ gpuModel: 'H100', gpuHours: 40, maxConcurrentGpus: 4 }],
    });
    expect(requests.rows.get('req-1')?.status).toBe('partially_approved');
    expect(requests.lines.get('req-1')?.[0]).toMatchObject({
      grantedGpuSeconds: 40n * HOUR,
      grantedMaxConcurrentGpus: 4,
    });
  });

  it('refuses a grant over what the program has left, writing and enqueueing nothing', async () => {
    const { approve, requests, programs, producer, audit, transactions } = setUp();
    programs.left.set('prog-1', { H100: 100n * HOUR - 1n });
    expect(await refusal(approve.execute(admin, 'req-1', {}))).toMatchObject({
      code: 'EXCEEDS_PROGRAM_BUDGET',
    });
    expect(requests.grantIntents).toEqual([]);
    expect(audit.events).toEqual([]);
    expect(producer.jobs).toEqual([]);
    expect(transactions.runs).toEqual([{ options: {}, outcome: 'rolled back' }]);
  });

  it('refuses a grant above what the request asked (the domain rule)', async () => {
    const { approve } = setUp();
    expect(
      await refusal(
        approve.execute(admin, 'req-1', {
          lines: [{ gpuModel: 'H100', gpuHours: 101, maxConcurrentGpus: 8 }],
        }),
      ),
    ).toMatchObject({ kind: 'rule_violated' });
  });

  it('refuses a second decision with 409 before looking at the grant', async () => {
    const { approve, requests, programs } = setUp();
    requests.rows.get('req-1')!.status = 'approved';
    expect(await refusal(approve.execute(admin, 'req-1', {}))).toMatchObject({ kind: 'conflict' });
    expect(programs.lockedPrograms).toEqual([]);
  });

  it('still succeeds when the enqueue fails: the grant intent is committed for the reconciler', async () => {
    const { approve, requests, producer, grants } = setUp();
    producer.failing = true;
    await approve.execute(admin, 'req-1', {});
    expect(requests.rows.get('req-1')?.status).toBe('approved');
    expect(requests.grantIntents).toEqual(['req-1']);
    expect(grants.enqueued).toEqual([]);
  });

  it('refuses API tokens', async () => {
    const { approve } = setUp();
    const token = { kind: 'api_token', tokenId: 't', scopes: [], createdBy: 'u' } as Principal;
    expect(await refusal(approve.execute({ principal: token, requestId: null }, 'req-1', {}))).toMatchObject({
      code: 'USER_REQUIRED',
    });
  });
});

describe('RejectRequestUseCase', () => {
  it('rejects with the reason as the decision note and audits it', async () => {
    const { reject, requests, audit, producer } = setUp();
    await reject.execute(admin, 'req-1', { reason: 'out of scope' });
    expect(requests.rows.get('req-1')).toMatchObject({ status: 'rejected', decisionNote: 'out of scope' });
    expect(audit.events).toMatchObject([{ action: 'request.rejected', after: { reason: 'out of scope' } }]);
    expect(producer.jobs).toEqual([]);
  });

  it('needs a reason', async () => {
    const { reject, requests } = setUp();
    expect(await refusal(reject.execute(admin, 'req-1', { reason: '  ' }))).toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(requests.rows.get('req-1')?.status).toBe('submitted');
  });

  it('refuses to reject a withdrawn request', async () => {
    const { reject, requests } = setUp();
    requests.rows.get('req-1')!.status = 'withdrawn';
    expect(await refusal(reject.execute(admin, 'req-1', { reason: 'late' }))).toMatchObject({
      kind: 'conflict',
    });
  });
});
