import type { DataSource } from 'typeorm';
import type { LedgerTransaction, ProjectScope } from '#domain';
import {
  AgentHeartbeatRepository,
  AttemptHoldRepository,
  LedgerRepository,
  PartitionRepository,
  ProjectMembershipRepository,
  WorkloadPlacementRepository,
  WorkloadRepository,
  type AllocationEntity,
  type AttemptHoldClose,
  type AttemptKey,
  type AttemptRef,
  type HeartbeatWrite,
  type RunConfirmation,
  type RunRef,
  type DispatchPart,
  type LedgerPosting,
  type NewAttemptHold,
  type NewWorkload,
  type StampedWorkload,
  type Page,
  type PageQuery,
  type PlacementLimits,
  type PlacementPart,
  type ProjectRole,
  type Tx,
  type WorkloadEndWrite,
  type WorkloadEntity,
  type WorkloadFilters,
  type WorkloadHoldEntity,
} from '#persistence';
import type { JobItem, JobProducer } from '#queues';

/**
 * In-memory stand-ins for the workload ports, for unit tests of the workload use cases. Each keeps
 * its rows in plain maps and records what a test asserts on (locks taken, postings, jobs).
 */

/** Every lock and write the fakes saw, in order: the sequence a use case takes them in. */
export type Step = string;

export function makeWorkload(fields: Partial<WorkloadEntity> = {}): WorkloadEntity {
  const at = new Date('2026-06-01T00:00:00Z');
  return {
    id: 'w-1',
    allocationId: 'a-1',
    projectId: 'p-1',
    programId: 'g-1',
    gpuModel: 'H200',
    gpus: 8,
    walltimeSeconds: 3600,
    name: 'train',
    priorityTier: 0,
    state: 'queued',
    batchId: null,
    submittedBy: 'u-1',
    simulatedRuntimeSeconds: null,
    queuedAt: at,
    admittedAt: null,
    dispatchedAt: null,
    startedAt: null,
    endedAt: null,
    endReason: null,
    borrowed: false,
    attempt: 0,
    infrastructureRequeues: 0,
    heldGpuSeconds: 0n,
    consumedGpuSeconds: 0n,
    waitReason: null,
    waitDetail: null,
    queuePosition: null,
    estimatedStartAt: null,
    createdAt: at,
    updatedAt: at,
    ...fields,
  };
}

export function makeAllocation(fields: Partial<AllocationEntity> = {}): AllocationEntity {
  return {
    id: 'a-1',
    projectId: 'p-1',
    programId: 'g-1',
    gpuModel: 'H200',
    maxConcurrentGpus: 64,
    priorityTier: 2,
    status: 'active',
    startsAt: new Date('2026-01-01T00:00:00Z'),
    endsAt: new Date('2027-01-01T00:00:00Z'),
    ...fields,
  } as AllocationEntity;
}

export class FakeWorkloadRepository extends WorkloadRepository {
  readonly rows = new Map<string, WorkloadEntity>();
  readonly allocations = new Map<string, AllocationEntity>();
  constructor(private readonly steps: Step[] = []) {
    super();
  }

  add(...workloads: WorkloadEntity[]): this {
    for (const workload of workloads) this.rows.set(workload.id, { ...workload });
    return this;
  }

  override findAllocation(id: string): Promise<AllocationEntity | null> {
    return Promise.resolve(this.allocations.get(id) ?? null);
  }
  override findById(id: string): Promise<WorkloadEntity | null> {
    const row = this.rows.get(id);
    return Promise.resolve(row ? { ...row } : null);
  }
  override lockById(_tx: Tx, id: string): Promise<WorkloadEntity> {
    this.steps.push(`lock workload ${id}`);
    const row = this.rows.get(id);
    if (!row) return Promise.reject(new Error(`no workload ${id}`));
    return Promise.resolve({ ...row });
  }
  override lockActiveOfAllocation(
    _tx: Tx,
    allocationId: string,
    gpuModel: string,
  ): Promise<WorkloadEntity[]> {
    this.steps.push(`lock active of ${allocationId} on ${gpuModel}`);
    return Promise.resolve(
      [...this.rows.values()]
        .filter((row) => row.allocationId === allocationId && row.gpuModel === gpuModel)
        .filter((row) => row.state === 'admitted' || row.state === 'running')
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((row) => ({ ...row })),
    );
  }
  override findByIds(_tx: Tx, ids: string[]): Promise<WorkloadEntity[]> {
    return Promise.resolve(ids.flatMap((id) => (this.rows.has(id) ? [{ ...this.rows.get(id)! }] : [])));
  }
  override lockByIds(tx: Tx, ids: string[]): Promise<WorkloadEntity[]> {
    this.steps.push(`lock workloads ${[...ids].sort().join(',')}`);
    return this.findByIds(tx, [...ids].sort());
  }
  override insert(_tx: Tx, workload: StampedWorkload): Promise<void> {
    this.steps.push(`insert workload ${workload.id}`);
    this.rows.set(workload.id, { ...workload });
    return Promise.resolve();
  }
  override insertBatch(_tx: Tx, template: NewWorkload, ids: string[], names: string[]): Promise<void> {
    this.steps.push(`insert batch of ${ids.length}`);
    ids.forEach((id, index) =>
      this.rows.set(id, {
        ...template,
        id,
        name: names[index] ?? '',
        createdAt: template.queuedAt,
        updatedAt: template.queuedAt,
      }),
    );
    return Promise.resolve();
  }
  override markStarted(_tx: Tx, id: string, at: Date): Promise<void> {
    this.steps.push(`start workload ${id}`);
    this.patch(id, { state: 'running', startedAt: at });
    return Promise.resolve();
  }
  override markEnded(_tx: Tx, id: string, end: WorkloadEndWrite): Promise<void> {
    this.steps.push(`end workload ${id} ${end.state}`);
    this.patch(id, { state: end.state, endReason: end.reason, endedAt: end.at, heldGpuSeconds: 0n });
    return Promise.resolve();
  }
  override markRequeued(
    _tx: Tx,
    workload: WorkloadEntity,
    reason: string,
    cause: 'preemption' | 'infrastructure',
  ): Promise<void> {
    this.steps.push(`requeue workload ${workload.id}`);
    this.patch(workload.id, {
      state: 'queued',
      attempt: workload.attempt + 1,
      infrastructureRequeues: workload.infrastructureRequeues + (cause === 'infrastructure' ? 1 : 0),
      endReason: reason,
      heldGpuSeconds: 0n,
      admittedAt: null,
      dispatchedAt: null,
      startedAt: null,
    });
    return Promise.resolve();
  }
  override attemptsOf(): Promise<WorkloadHoldEntity[]> {
    return Promise.resolve([]);
  }
  /** Per program id; a program not set here requeues nothing. */
  readonly requeueLimits = new Map<string, number>();
  override requeueLimitOf(_tx: Tx, programId: string): Promise<number> {
    return Promise.resolve(this.requeueLimits.get(programId) ?? 0);
  }
  override markDispatched(id: string): Promise<void> {
    this.steps.push(`dispatched ${id}`);
    this.patch(id, { dispatchedAt: new Date() });
    return Promise.resolve();
  }
  readonly listed: { scope: ProjectScope; filters: WorkloadFilters }[] = [];
  override list(
    scope: ProjectScope,
    filters: WorkloadFilters,
    _page: PageQuery,
  ): Promise<Page<WorkloadEntity>> {
    this.listed.push({ scope, filters });
    const items = [...this.rows.values()].filter(
      (row) =>
        (scope.kind === 'all' || (scope.kind === 'member' && this.visibleTo(scope.userId, row.projectId))) &&
        (filters.state === undefined || row.state === filters.state),
    );
    return Promise.resolve({ items, nextCursor: null });
  }
  /** Project ids each user may see, for list(). */
  readonly visibility = new Map<string, string[]>();
  private visibleTo(userId: string, projectId: string): boolean {
    return this.visibility.get(userId)?.includes(projectId) ?? false;
  }
  override modelsWithActiveWorkloads(allocationId: string): Promise<string[]> {
    const models = [...this.rows.values()]
      .filter(
        (row) => row.allocationId === allocationId && (row.state === 'admitted' || row.state === 'running'),
      )
      .map((row) => row.gpuModel);
    return Promise.resolve([...new Set(models)].sort());
  }
  override undispatchedAttempts(): Promise<AttemptRef[]> {
    return Promise.resolve([]);
  }
  readonly overdue: AttemptRef[] = [];
  override overdueAttempts(): Promise<AttemptRef[]> {
    return Promise.resolve(this.overdue);
  }
  now = new Date('2026-06-02T00:00:00Z');
  override databaseNow(): Promise<Date> {
    return Promise.resolve(this.now);
  }

  private patch(id: string, fields: Partial<WorkloadEntity>): void {
    const row = this.rows.get(id);
    if (row) this.rows.set(id, { ...row, ...fields });
  }
}

/**
 * Heartbeats over the fake workload rows: the candidate lists are what a test sets, confirmations
 * and stops are computed from the rows, as the SQL does.
 */
export class FakeAgentHeartbeatRepository extends AgentHeartbeatRepository {
  readonly clusters = new Map<string, string>([['c-1', 'simulator']]);
  readonly heartbeats: HeartbeatWrite[] = [];
  readonly confirmations = new Map<string, RunConfirmation>();
  readonly unconfirmed: AttemptRef[] = [];
  readonly forgotten: AttemptRef[] = [];

  constructor(private readonly workloads: FakeWorkloadRepository) {
    super();
  }

  override clustersOfAdapter(_tx: Tx, adapter: string): Promise<string[]> {
    return Promise.resolve([...this.clusters].filter(([, kind]) => kind === adapter).map(([id]) => id));
  }
  override unknownClusters(_tx: Tx, clusterIds: readonly string[]): Promise<string[]> {
    return Promise.resolve(clusterIds.filter((id) => !this.clusters.has(id)));
  }
  override recordHeartbeat(_tx: Tx, heartbeat: HeartbeatWrite): Promise<void> {
    this.heartbeats.push(heartbeat);
    return Promise.resolve();
  }
  override confirmRuns(_tx: Tx, runs: readonly RunRef[]): Promise<RunRef[]> {
    const stop: RunRef[] = [];
    for (const run of runs) {
      const row = this.workloads.rows.get(run.workloadId);
      if (row && row.attempt === run.attempt && (row.state === 'admitted' || row.state === 'running')) {
        this.confirmations.set(run.workloadId, { attempt: run.attempt, confirmedAt: this.workloads.now });
      } else stop.push(run);
    }
    return Promise.resolve(stop);
  }
  override startedRunsNotListed(): Promise<AttemptRef[]> {
    return Promise.resolve(this.forgotten);
  }
  override unconfirmedAttempts(): Promise<AttemptRef[]> {
    return Promise.resolve(this.unconfirmed);
  }
  override confirmationsOf(_tx: Tx, workloadIds: readonly string[]): Promise<Map<string, RunConfirmation>> {
    return Promise.resolve(new Map([...this.confirmations].filter(([id]) => workloadIds.includes(id))));
  }
}

export class FakeWorkloadPlacementRepository extends WorkloadPlacementRepository {
  readonly parts = new Map<string, DispatchPart[]>();
  limits: PlacementLimits = {
    gpusPerNode: 8,
    domains: [{ domain: 'ib-a', wholeNodes: 8, largestNodeGpus: 8 }],
  };
  limitReads = 0;
  constructor(private readonly steps: Step[] = []) {
    super();
  }
  override placementsOf(workloadIds: string[]): Promise<Map<string, PlacementPart[]>> {
    const result = new Map<string, PlacementPart[]>();
    for (const id of workloadIds) {
      const parts = this.parts.get(id);
      if (parts)
        result.set(
          id,
          parts.map((part) => ({ ...part, cluster: 'c-1', interconnectDomain: 'ib-a' })),
        );
    }
    return Promise.resolve(result);
  }
  override dispatchParts(workloadId: string): Promise<DispatchPart[]> {
    return Promise.resolve(this.parts.get(workloadId) ?? []);
  }
  override adapterOf(workloadId: string): Promise<string | null> {
    return Promise.resolve(this.parts.get(workloadId)?.[0]?.adapter ?? null);
  }
  override release(_tx: Tx, workloadId: string): Promise<void> {
    this.steps.push(`release placements ${workloadId}`);
    this.parts.delete(workloadId);
    return Promise.resolve();
  }
  override limitsOf(): Promise<PlacementLimits> {
    this.limitReads += 1;
    return Promise.resolve(this.limits);
  }
}

export class FakeAttemptHoldRepository extends AttemptHoldRepository {
  readonly holds = new Map<string, WorkloadHoldEntity>();
  constructor(private readonly steps: Step[] = []) {
    super();
  }
  private static key(key: AttemptKey): string {
    return `${key.workloadId}:${key.attempt}`;
  }
  add(hold: Partial<WorkloadHoldEntity> & AttemptKey): this {
    this.holds.set(FakeAttemptHoldRepository.key(hold), {
      allocationId: 'a-1',
      heldGpuSeconds: 0n,
      remainingGpuSeconds: 0n,
      meteredGpuSeconds: 0n,
      refundedGpuSeconds: 0n,
      admittedAt: new Date('2026-06-01T00:00:00Z'),
      startedAt: null,
      endedAt: null,
      releaseAfter: null,
      refundReason: null,
      ...hold,
    });
    return this;
  }
  get(key: AttemptKey): WorkloadHoldEntity | undefined {
    return this.holds.get(FakeAttemptHoldRepository.key(key));
  }
  override lockHold(_tx: Tx, key: AttemptKey): Promise<WorkloadHoldEntity | null> {
    this.steps.push(`lock hold ${FakeAttemptHoldRepository.key(key)}`);
    const hold = this.get(key);
    return Promise.resolve(hold ? { ...hold } : null);
  }
  override insert(_tx: Tx, hold: NewAttemptHold): Promise<void> {
    this.steps.push(`insert hold ${FakeAttemptHoldRepository.key(hold)}`);
    this.add({ ...hold });
    return Promise.resolve();
  }
  override markStarted(_tx: Tx, key: AttemptKey, at: Date): Promise<void> {
    this.steps.push(`start hold ${FakeAttemptHoldRepository.key(key)}`);
    const hold = this.get(key);
    if (hold) hold.startedAt = at;
    return Promise.resolve();
  }
  override close(_tx: Tx, key: AttemptKey, close: AttemptHoldClose): Promise<void> {
    this.steps.push(`close hold ${FakeAttemptHoldRepository.key(key)}`);
    const hold = this.get(key);
    if (hold) Object.assign(hold, close);
    return Promise.resolve();
  }
}

export class FakePartitionRepository extends PartitionRepository {
  readonly dirty: string[] = [];
  due: string[] = [];
  constructor(private readonly steps: Step[] = []) {
    super();
  }
  override lock(_tx: Tx, gpuModel: string): Promise<void> {
    this.steps.push(`lock partition ${gpuModel}`);
    return Promise.resolve();
  }
  override markDirty(_tx: Tx, gpuModel: string): Promise<void> {
    this.steps.push(`mark dirty ${gpuModel}`);
    this.dirty.push(gpuModel);
    return Promise.resolve();
  }
  override modelsDueForCycle(): Promise<string[]> {
    return Promise.resolve(this.due);
  }
}

/** The ledger as use cases see it: postings recorded (a repeated key is a no-op), balances set by the test. */
export class FakeLedgerRepository extends LedgerRepository {
  /** Row locks mean nothing in memory. */
  override lockAllocationAccounts(): Promise<void> {
    return Promise.resolve();
  }
  readonly posted: LedgerPosting[] = [];
  readonly balanceOf = new Map<string, bigint>();
  constructor(private readonly steps: Step[] = []) {
    super();
  }
  override post(_tx: Tx, posting: LedgerPosting): Promise<boolean> {
    this.steps.push(`post ${posting.idempotencyKey}`);
    if (this.posted.some((seen) => seen.idempotencyKey === posting.idempotencyKey))
      return Promise.resolve(false);
    this.posted.push(posting);
    return Promise.resolve(true);
  }
  override postMany(): Promise<string[]> {
    return Promise.reject(new Error('FakeLedgerRepository.postMany is not used by the workload use cases'));
  }
  override balances(_tx: Tx, accounts: string[]): Promise<Map<string, bigint>> {
    return Promise.resolve(new Map(accounts.map((account) => [account, this.balanceOf.get(account) ?? 0n])));
  }
  kinds(): LedgerTransaction['kind'][] {
    return this.posted.map((posting) => posting.kind as LedgerTransaction['kind']);
  }
}

/** Project membership by (project, user). */
export class FakeMemberships extends ProjectMembershipRepository {
  private readonly roles = new Map<string, ProjectRole>();
  constructor() {
    super(undefined as unknown as DataSource);
  }
  add(projectId: string, userId: string, role: ProjectRole = 'member'): this {
    this.roles.set(`${projectId}:${userId}`, role);
    return this;
  }
  override projectExists(): Promise<boolean> {
    return Promise.resolve(true);
  }
  override roleOf(projectId: string, userId: string): Promise<ProjectRole | null> {
    return Promise.resolve(this.roles.get(`${projectId}:${userId}`) ?? null);
  }
  override projectIdsOf(userId: string): Promise<string[]> {
    return Promise.resolve(
      [...this.roles.keys()]
        .filter((key) => key.endsWith(`:${userId}`))
        .map((key) => key.split(':')[0] ?? ''),
    );
  }
}

/** Records what a use case enqueues after commit; `failing` makes every enqueue throw. */
export class FakeProducer {
  readonly jobs: JobItem[] = [];
  failing = false;
  enqueue(job: JobItem): Promise<void> {
    return this.enqueueMany([job]);
  }
  enqueueMany(jobs: JobItem[]): Promise<void> {
    if (this.failing) return Promise.reject(new Error('redis down'));
    this.jobs.push(...jobs);
    return Promise.resolve();
  }
  asProducer(): JobProducer {
    return this as unknown as JobProducer;
  }
}
