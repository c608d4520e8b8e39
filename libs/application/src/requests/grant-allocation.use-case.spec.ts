import { programBudgetAccount, allocationAccount } from '#domain';
import {
  GrantRepository,
  LedgerRepository,
  type AllocationRequestEntity,
  type AllocationRequestLineEntity,
  type GrantAudit,
  type GrantIntent,
  type LedgerPosting,
  type NewAllocation,
  type Tx,
} from '#persistence';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { GrantAllocationUseCase } from './grant-allocation.use-case.js';

const PROGRAM = 'program-1';
const HOUR = 3600n;

class FakeGrantRepository extends GrantRepository {
  intent: GrantIntent | null = { id: 'intent-1', status: 'pending', attempts: 0 };
  request = {
    id: 'request-1',
    projectId: 'project-1',
    programId: PROGRAM,
    startsAt: new Date('2026-01-01T00:00:00Z'),
    endsAt: new Date('2026-07-01T00:00:00Z'),
  } as AllocationRequestEntity;
  lines: AllocationRequestLineEntity[] = [];
  readonly allocations = new Map<string, NewAllocation & { id: string }>();
  readonly plans: string[] = [];
  readonly audits: GrantAudit[] = [];
  readonly lockedBudgets: string[][] = [];

  override lockIntent(): Promise<GrantIntent | null> {
    return Promise.resolve(this.intent ? { ...this.intent } : null);
  }
  override completeIntent(_tx: Tx, intent: GrantIntent, status: 'done' | 'failed'): Promise<void> {
    this.intent = { ...intent, status, attempts: intent.attempts + 1 };
    return Promise.resolve();
  }
  override loadRequest(): Promise<AllocationRequestEntity> {
    return Promise.resolve(this.request);
  }
  override loadLines(): Promise<AllocationRequestLineEntity[]> {
    return Promise.resolve(this.lines);
  }
  override lockProgramBudgets(_tx: Tx, _programId: string, gpuModels: string[]): Promise<void> {
    this.lockedBudgets.push(gpuModels);
    return Promise.resolve();
  }
  override allocationFor(_tx: Tx, allocation: NewAllocation): Promise<string> {
    const id = `allocation-${allocation.requestLineId}`;
    if (!this.allocations.has(allocation.requestLineId))
      this.allocations.set(allocation.requestLineId, { ...allocation, id });
    return Promise.resolve(id);
  }
  override addPendingPlan(_tx: Tx, allocationId: string): Promise<void> {
    if (!this.plans.includes(allocationId)) this.plans.push(allocationId);
    return Promise.resolve();
  }
  override audit(_tx: Tx, event: GrantAudit): Promise<void> {
    this.audits.push(event);
    return Promise.resolve();
  }
  override pendingRequestIds(): Promise<string[]> {
    return Promise.resolve([]);
  }
  override markEnqueued(): Promise<void> {
    return Promise.resolve();
  }
}

/** Balances in memory; a posting applies once per idempotency key, like the real ledger. */
class FakeLedger extends LedgerRepository {
  readonly balanceOf = new Map<string, bigint>();
  readonly postings: LedgerPosting[] = [];

  override post(_tx: Tx, posting: LedgerPosting): Promise<boolean> {
    if (this.postings.some((p) => p.idempotencyKey === posting.idempotencyKey)) return Promise.resolve(false);
    this.postings.push(posting);
    for (const entry of posting.entries)
      this.balanceOf.set(entry.account, (this.balanceOf.get(entry.account) ?? 0n) + entry.amount);
    return Promise.resolve(true);
  }
  override balances(_tx: Tx, accounts: string[]): Promise<Map<string, bigint>> {
    return Promise.resolve(new Map(accounts.map((account) => [account, this.balanceOf.get(account) ?? 0n])));
  }
}

function line(overrides: Partial<AllocationRequestLineEntity>): AllocationRequestLineEntity {
  return {
    id: 'line-1',
    requestId: 'request-1',
    lineNo: 1,
    gpuModel: 'H100',
    kind: 'budget',
    gpuSeconds: 100n * HOUR,
    maxConcurrentGpus: 8,
    grantedGpuSeconds: 100n * HOUR,
    grantedMaxConcurrentGpus: null,
    servers: null,
    startsAt: null,
    endsAt: null,
    sameInterconnectDomain: false,
    grantedServers: null,
    ...overrides,
  };
}

describe('GrantAllocationUseCase', () => {
  let repository: FakeGrantRepository;
  let ledger: FakeLedger;
  let transactions: FakeTransactionRunner;
  let grants: GrantAllocationUseCase;

  beforeEach(() => {
    repository = new FakeGrantRepository();
    ledger = new FakeLedger();
    transactions = new FakeTransactionRunner();
    grants = new GrantAllocationUseCase(transactions, repository, ledger);
    ledger.balanceOf.set(programBudgetAccount(PROGRAM, 'H100'), 1_000n * HOUR);
    ledger.balanceOf.set(programBudgetAccount(PROGRAM, 'A100'), 10n * HOUR);
  });

  it('creates one allocation per granted line and moves exactly the granted GPU-seconds', async () => {
    repository.lines = [
      line({ id: 'line-1', grantedGpuSeconds: 60n * HOUR + 1n }),
      line({ id: 'line-2', lineNo: 2, gpuModel: 'A100', grantedGpuSeconds: 10n * HOUR }),
      line({ id: 'line-3', lineNo: 3, grantedGpuSeconds: null }),
      line({ id: 'line-4', lineNo: 4, grantedGpuSeconds: 0n }),
    ];

    const outcome = await grants.execute('request-1', 'job-7');

    expect(outcome).toEqual({
      outcome: 'granted',
      allocationIds: ['allocation-line-1', 'allocation-line-2'],
      plannedAllocationIds: [],
    });
    expect(ledger.balanceOf.get(programBudgetAccount(PROGRAM, 'H100'))).toBe(1_000n * HOUR - 60n * HOUR - 1n);
    expect(ledger.balanceOf.get(programBudgetAccount(PROGRAM, 'A100'))).toBe(0n);
    expect(ledger.balanceOf.get(allocationAccount('allocation-line-1'))).toBe(60n * HOUR + 1n);
    expect(ledger.postings.map((p) => p.requestId)).toEqual(['job-7', 'job-7']);
    expect(repository.lockedBudgets).toEqual([['A100', 'H100']]);
    expect(repository.intent).toEqual({ id: 'intent-1', status: 'done', attempts: 1 });
    expect(repository.audits).toEqual([
      {
        requestId: 'request-1',
        action: 'request.granted',
        after: { allocationIds: ['allocation-line-1', 'allocation-line-2'] },
        jobId: 'job-7',
      },
    ]);
    expect(transactions.runs).toEqual([{ options: { isolation: 'READ COMMITTED' }, outcome: 'committed' }]);
  });

  it('a replayed grant job is a no-op once the intent is done', async () => {
    repository.lines = [line({})];
    await grants.execute('request-1');
    const balances = new Map(ledger.balanceOf);

    await expect(grants.execute('request-1')).resolves.toEqual({ outcome: 'already_granted' });

    expect(ledger.postings).toHaveLength(1);
    expect(ledger.balanceOf).toEqual(balances);
    expect(repository.allocations.size).toBe(1);
    expect(repository.audits).toHaveLength(1);
    expect(repository.intent?.attempts).toBe(1);
  });

  it('does nothing for a request without a grant intent', async () => {
    repository.intent = null;
    repository.lines = [line({})];

    await expect(grants.execute('request-1')).resolves.toEqual({ outcome: 'no_intent' });
    expect(ledger.postings).toEqual([]);
    expect(repository.allocations.size).toBe(0);
  });

  it('refuses a grant the program budget no longer covers, summing the lines of a model in bigint', async () => {
    repository.lines = [
      line({ id: 'line-1', gpuModel: 'A100', grantedGpuSeconds: 6n * HOUR }),
      line({ id: 'line-2', lineNo: 2, gpuModel: 'A100', grantedGpuSeconds: 4n * HOUR + 1n }),
    ];

    const outcome = await grants.execute('request-1', 'job-1');

    expect(outcome).toEqual({ outcome: 'insufficient_budget', gpuModel: 'A100', shortGpuSeconds: 1n });
    expect(ledger.postings).toEqual([]);
    expect(repository.allocations.size).toBe(0);
    expect(repository.intent).toEqual({ id: 'intent-1', status: 'failed', attempts: 1 });
    expect(repository.audits).toEqual([
      {
        requestId: 'request-1',
        action: 'request.grant_failed',
        after: { reason: 'insufficient_budget', gpuModel: 'A100', shortGpuSeconds: 1n },
        jobId: 'job-1',
      },
    ]);
  });

  it('grants a budget exactly equal to what is left', async () => {
    repository.lines = [line({ gpuModel: 'A100', grantedGpuSeconds: 10n * HOUR })];

    await expect(grants.execute('request-1')).resolves.toMatchObject({ outcome: 'granted' });
    expect(ledger.balanceOf.get(programBudgetAccount(PROGRAM, 'A100'))).toBe(0n);
  });

  it('reserved lines get their own window, granted servers and a planning outbox row', async () => {
    const startsAt = new Date('2026-03-01T00:00:00Z');
    const endsAt = new Date('2026-04-01T00:00:00Z');
    repository.lines = [
      line({
        id: 'line-1',
        kind: 'reserved',
        servers: 4,
        grantedServers: 3,
        startsAt,
        endsAt,
        sameInterconnectDomain: true,
      }),
      line({
        id: 'line-2',
        lineNo: 2,
        grantedMaxConcurrentGpus: 4,
        startsAt,
        endsAt,
        sameInterconnectDomain: true,
      }),
    ];

    const outcome = await grants.execute('request-1');

    expect(outcome).toEqual({
      outcome: 'granted',
      allocationIds: ['allocation-line-1', 'allocation-line-2'],
      plannedAllocationIds: ['allocation-line-1'],
    });
    expect(repository.plans).toEqual(['allocation-line-1']);
    expect(repository.allocations.get('line-1')).toMatchObject({
      kind: 'reserved',
      servers: 3,
      startsAt,
      endsAt,
      sameInterconnectDomain: true,
      maxConcurrentGpus: 8,
    });
    // A budget line keeps the request's window and never holds servers.
    expect(repository.allocations.get('line-2')).toMatchObject({
      kind: 'budget',
      servers: null,
      startsAt: repository.request.startsAt,
      endsAt: repository.request.endsAt,
      sameInterconnectDomain: false,
      maxConcurrentGpus: 4,
    });
  });
});
