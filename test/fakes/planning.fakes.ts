import type { JobItem } from '#queues';
import {
  LedgerRepository,
  NotificationsRepository,
  RecallRepository,
  type LedgerPosting,
  type LockedRecallAllocation,
  type LockedRecallProposal,
  type NewRecallProposal,
  type NotificationInput,
  type RecallCandidateRow,
  type RecallDecisionAudit,
  type RecallHeldServer,
  type RecallProposalEntity,
  type RecordedNotification,
  type ReservedUsage,
  type Tx,
  type Page,
} from '#persistence';

/** Records notifications; a dedupe key seen before records nothing, as the unique index does. */
export class FakeNotificationsRepository extends NotificationsRepository {
  readonly recorded: NotificationInput[] = [];

  override record(_tx: Tx, input: NotificationInput): Promise<RecordedNotification | null> {
    if (this.recorded.some((seen) => seen.dedupeKey === input.dedupeKey)) return Promise.resolve(null);
    this.recorded.push(input);
    const n = this.recorded.length;
    return Promise.resolve({ notificationId: `notification-${n}`, deliveryIds: [`delivery-${n}`] });
  }
}

/** Balances by account; postings are recorded and move the balances, once per idempotency key. */
export class FakeLedgerRepository extends LedgerRepository {
  /** Row locks mean nothing in memory. */
  override lockAllocationAccounts(): Promise<void> {
    return Promise.resolve();
  }
  readonly posted: LedgerPosting[] = [];
  readonly accounts = new Map<string, bigint>();

  override post(_tx: Tx, posting: LedgerPosting): Promise<boolean> {
    if (this.posted.some((seen) => seen.idempotencyKey === posting.idempotencyKey))
      return Promise.resolve(false);
    this.posted.push(posting);
    for (const entry of posting.entries) {
      this.accounts.set(entry.account, (this.accounts.get(entry.account) ?? 0n) + entry.amount);
    }
    return Promise.resolve(true);
  }

  override balances(_tx: Tx, accounts: string[]): Promise<Map<string, bigint>> {
    return Promise.resolve(new Map(accounts.map((account) => [account, this.accounts.get(account) ?? 0n])));
  }
}

/** Recall proposals and allocations in memory; insert-or-ignore per (allocation, rule). */
export class FakeRecallRepository extends RecallRepository {
  candidateRows: RecallCandidateRow[] = [];
  granted = new Map<string, bigint>();
  balanceOf = new Map<string, bigint>();
  usage = new Map<string, ReservedUsage>();
  held = new Map<string, RecallHeldServer[]>();
  readonly allocations = new Map<string, LockedRecallAllocation>();
  readonly proposals = new Map<string, LockedRecallProposal & { recalledGpuSeconds: bigint | null }>();
  readonly audits: RecallDecisionAudit[] = [];
  readonly balanceReads: string[][] = [];

  override candidates(): Promise<RecallCandidateRow[]> {
    return Promise.resolve(this.candidateRows);
  }

  override grantedInto(ids: readonly string[]): Promise<Map<string, bigint>> {
    return Promise.resolve(new Map(ids.map((id) => [id, this.granted.get(id) ?? 0n])));
  }

  override balances(accounts: readonly string[]): Promise<Map<string, bigint>> {
    this.balanceReads.push([...accounts]);
    return Promise.resolve(new Map(accounts.map((account) => [account, this.balanceOf.get(account) ?? 0n])));
  }

  override reservedUsage(ids: readonly string[]): Promise<Map<string, ReservedUsage>> {
    return Promise.resolve(
      new Map(ids.flatMap((id) => (this.usage.has(id) ? [[id, this.usage.get(id)!]] : []))),
    );
  }

  override insertProposals(
    _tx: Tx,
    proposals: readonly NewRecallProposal[],
  ): Promise<{ id: string; allocationId: string; ruleId: string }[]> {
    const inserted: { id: string; allocationId: string; ruleId: string }[] = [];
    for (const { proposal, programId } of proposals) {
      const taken = [...this.proposals.values()].some(
        (row) => row.allocationId === proposal.allocationId && row.ruleId === proposal.ruleId,
      );
      if (taken) continue;
      const id = `proposal-${this.proposals.size + 1}`;
      this.proposals.set(id, {
        id,
        allocationId: proposal.allocationId,
        programId,
        ruleId: proposal.ruleId,
        gpuSeconds: proposal.gpuSeconds,
        status: 'proposed',
        decidedAt: null,
        servers: proposal.servers ?? null,
        serversHeld: proposal.serversHeld ?? null,
        recalledGpuSeconds: null,
      });
      inserted.push({ id, allocationId: proposal.allocationId, ruleId: proposal.ruleId });
    }
    return Promise.resolve(inserted);
  }

  override lockProposal(_tx: Tx, id: string): Promise<LockedRecallProposal | null> {
    const row = this.proposals.get(id);
    return Promise.resolve(row ? { ...row } : null);
  }

  override lockAllocation(_tx: Tx, id: string): Promise<LockedRecallAllocation | null> {
    return Promise.resolve(this.allocations.get(id) ?? null);
  }

  override heldServers(_tx: Tx, allocationId: string): Promise<RecallHeldServer[]> {
    return Promise.resolve(this.held.get(allocationId) ?? []);
  }

  override markConfirmed(
    _tx: Tx,
    id: string,
    decision: { adminUserId: string; at: Date; recalledGpuSeconds: bigint },
  ): Promise<void> {
    const row = this.proposals.get(id)!;
    Object.assign(row, {
      status: 'confirmed',
      decidedAt: decision.at,
      recalledGpuSeconds: decision.recalledGpuSeconds,
    });
    return Promise.resolve();
  }

  override markDismissed(_tx: Tx, id: string, decision: { at: Date }): Promise<void> {
    Object.assign(this.proposals.get(id)!, { status: 'dismissed', decidedAt: decision.at });
    return Promise.resolve();
  }

  override list(): Promise<Page<RecallProposalEntity>> {
    return Promise.reject(new Error('FakeRecallRepository.list: the filtered list is SQL, tested in e2e'));
  }

  override find(id: string): Promise<RecallProposalEntity | null> {
    const row = this.proposals.get(id);
    if (!row) return Promise.resolve(null);
    return Promise.resolve({
      id: row.id,
      allocationId: row.allocationId,
      programId: row.programId,
      ruleId: row.ruleId,
      gpuSeconds: row.gpuSeconds,
      status: row.status,
      servers: row.servers,
      serversHeld: row.serversHeld,
      recalledGpuSeconds: row.recalledGpuSeconds,
    } as RecallProposalEntity);
  }

  override auditDecision(_tx: Tx, audit: RecallDecisionAudit): Promise<void> {
    this.audits.push(audit);
    return Promise.resolve();
  }
}

/** Records the jobs a use case enqueues after commit. */
export class FakeJobProducer {
  readonly jobs: JobItem[] = [];

  enqueue(job: JobItem): Promise<void> {
    this.jobs.push(job);
    return Promise.resolve();
  }

  enqueueMany(jobs: JobItem[]): Promise<void> {
    this.jobs.push(...jobs);
    return Promise.resolve();
  }
}
