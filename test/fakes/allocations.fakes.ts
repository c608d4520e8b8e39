import type { AllocationReadScope } from '#domain';
import {
  AllocationRepository,
  type AllocationEntity,
  type AllocationFilter,
  type AllocationStatusChange,
  type ReservationStanding,
  type ReservedUsage,
  type Tx,
} from '#persistence';
import { StopAllocationWorkloadsUseCase, type StoppedAttempt } from '#application';

/** Allocations in memory, keyed by id; `onExhaustion` by program id; a fixed transaction clock. */
export class FakeAllocationRepository extends AllocationRepository {
  readonly rows = new Map<string, AllocationEntity>();
  readonly onExhaustion = new Map<string, string>();
  readonly agencyPrograms = new Map<string, string>();
  readonly steps: string[] = [];
  now = new Date('2026-06-01T00:00:00.000Z');

  add(allocation: AllocationEntity): this {
    this.rows.set(allocation.id, { ...allocation });
    return this;
  }

  override findById(id: string): Promise<AllocationEntity | null> {
    const row = this.rows.get(id);
    return Promise.resolve(row ? { ...row } : null);
  }

  override list(_filter: AllocationFilter, _scope: AllocationReadScope): Promise<AllocationEntity[]> {
    return Promise.reject(new Error('FakeAllocationRepository.list: list scoping is SQL, tested in e2e'));
  }

  override programInAgency(programId: string, agencyCode: string): Promise<boolean> {
    return Promise.resolve(this.agencyPrograms.get(programId) === agencyCode);
  }

  override standings(): Promise<Map<string, ReservationStanding>> {
    return Promise.resolve(new Map<string, ReservationStanding>());
  }

  override reservedUsage(): Promise<Map<string, ReservedUsage>> {
    return Promise.resolve(new Map<string, ReservedUsage>());
  }

  override lockById(_tx: Tx, id: string): Promise<AllocationEntity> {
    this.steps.push(`lock allocation ${id}`);
    const row = this.rows.get(id);
    if (!row) return Promise.reject(new Error(`no allocation ${id}`));
    return Promise.resolve({ ...row });
  }

  override updateStatus(_tx: Tx, id: string, change: AllocationStatusChange): Promise<void> {
    const row = this.rows.get(id);
    if (row) Object.assign(row, change);
    return Promise.resolve();
  }

  override onExhaustionOf(_tx: Tx, programId: string): Promise<string> {
    return Promise.resolve(this.onExhaustion.get(programId) ?? 'finish');
  }

  override transactionNow(): Promise<Date> {
    return Promise.resolve(this.now);
  }
}

/** Records which allocations had their running work stopped, and returns `stopped` for them. */
export class FakeStopAllocationWorkloads extends StopAllocationWorkloadsUseCase {
  readonly calls: { allocationId: string; reason: string }[] = [];
  stopped: StoppedAttempt[] = [];

  constructor() {
    super(
      ...([undefined, undefined, undefined, undefined] as unknown as ConstructorParameters<
        typeof StopAllocationWorkloadsUseCase
      >),
    );
  }

  override execute(allocationId: string, reason: string): Promise<StoppedAttempt[]> {
    this.calls.push({ allocationId, reason });
    return Promise.resolve(this.stopped);
  }
}
