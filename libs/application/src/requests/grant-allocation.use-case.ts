import { Inject, Injectable, Optional } from '@nestjs/common';
import { grantTransaction, programBudgetAccount } from '#domain';
import {
  GrantRepository,
  LedgerRepository,
  TransactionRunner,
  type AllocationRequestEntity,
  type AllocationRequestLineEntity,
  type GrantIntent,
  type NewAllocation,
  type Tx,
} from '#persistence';

export type GrantOutcome =
  /** `plannedAllocationIds`: the reserved allocations whose `planning.plan` job to enqueue after commit. */
  | { outcome: 'granted'; allocationIds: string[]; plannedAllocationIds: string[] }
  | { outcome: 'already_granted' }
  | { outcome: 'no_intent' }
  | { outcome: 'insufficient_budget'; gpuModel: string; shortGpuSeconds: bigint };

interface Shortfall {
  gpuModel: string;
  shortGpuSeconds: bigint;
}

/** Fault injection for tests: keep the grant transaction open this long so a test can kill the process inside it. */
export const GRANT_FAULT_DELAY_MS = Symbol('GRANT_FAULT_DELAY_MS');

/**
 * Turns an approved request into allocations and posts the grant (program budget → allocation),
 * all in one PostgreSQL transaction. Idempotent: the grant intent row is locked and checked, each
 * allocation is unique per request line, each posting unique per idempotency key — so a redelivered
 * job, a second approval, or a reconciler re-enqueue all end in exactly one grant.
 */
@Injectable()
export class GrantAllocationUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly grants: GrantRepository,
    private readonly ledger: LedgerRepository,
    @Optional() @Inject(GRANT_FAULT_DELAY_MS) private readonly faultDelayMs = 0,
  ) {}

  execute(requestId: string, jobId?: string): Promise<GrantOutcome> {
    return this.transactions.run(
      async (tx) => {
        const intent = await this.grants.lockIntent(tx, requestId);
        if (!intent) return { outcome: 'no_intent' };
        if (intent.status === 'done') return { outcome: 'already_granted' };

        const request = await this.grants.loadRequest(tx, requestId);
        const lines = await this.grants.loadLines(tx, requestId);
        const granted = lines.filter((line) => (line.grantedGpuSeconds ?? 0n) > 0n);

        const shortfall = await this.checkBudget(tx, request.programId, granted);
        if (shortfall) return this.fail(tx, intent, requestId, shortfall, jobId);
        return this.grant(tx, intent, request, granted, jobId);
      },
      { isolation: 'READ COMMITTED' },
    );
  }

  /**
   * Serializes grants per program budget, then makes sure the budget still covers them: the
   * ledger never lets a program grant more than it was given.
   */
  private async checkBudget(
    tx: Tx,
    programId: string,
    lines: AllocationRequestLineEntity[],
  ): Promise<Shortfall | null> {
    const models = [...new Set(lines.map((line) => line.gpuModel))].sort();
    if (models.length === 0) return null;
    await this.grants.lockProgramBudgets(tx, programId, models);
    const balances = await this.ledger.balances(
      tx,
      models.map((model) => programBudgetAccount(programId, model)),
    );
    for (const model of models) {
      const wanted = lines
        .filter((line) => line.gpuModel === model)
        .reduce((sum, line) => sum + (line.grantedGpuSeconds ?? 0n), 0n);
      const left = balances.get(programBudgetAccount(programId, model)) ?? 0n;
      if (wanted > left) return { gpuModel: model, shortGpuSeconds: wanted - left };
    }
    return null;
  }

  private async fail(
    tx: Tx,
    intent: GrantIntent,
    requestId: string,
    shortfall: Shortfall,
    jobId: string | undefined,
  ): Promise<GrantOutcome> {
    await this.grants.completeIntent(tx, intent, 'failed');
    await this.grants.audit(tx, {
      requestId,
      action: 'request.grant_failed',
      after: { reason: 'insufficient_budget', ...shortfall },
      jobId,
    });
    return { outcome: 'insufficient_budget', ...shortfall };
  }

  private async grant(
    tx: Tx,
    intent: GrantIntent,
    request: AllocationRequestEntity,
    lines: AllocationRequestLineEntity[],
    jobId: string | undefined,
  ): Promise<GrantOutcome> {
    const allocationIds: string[] = [];
    const plannedAllocationIds: string[] = [];
    for (const line of lines) {
      const allocationId = await this.grants.allocationFor(tx, allocationOf(request, line));
      allocationIds.push(allocationId);
      if (line.kind === 'reserved') {
        // The planning outbox row commits with the allocation: the planning job or the
        // reconciler's sweep always finds it, whatever Redis loses.
        await this.grants.addPendingPlan(tx, allocationId);
        plannedAllocationIds.push(allocationId);
      }
      await this.ledger.post(tx, {
        ...grantTransaction({
          programId: request.programId,
          gpuModel: line.gpuModel,
          allocationId,
          requestLineId: line.id,
          gpuSeconds: line.grantedGpuSeconds ?? 0n,
        }),
        requestId: jobId ?? null,
      });
    }
    if (this.faultDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.faultDelayMs));
    await this.grants.completeIntent(tx, intent, 'done');
    await this.grants.audit(tx, {
      requestId: request.id,
      action: 'request.granted',
      after: { allocationIds },
      jobId,
    });
    return { outcome: 'granted', allocationIds, plannedAllocationIds };
  }
}

function allocationOf(request: AllocationRequestEntity, line: AllocationRequestLineEntity): NewAllocation {
  const reserved = line.kind === 'reserved';
  return {
    requestId: request.id,
    requestLineId: line.id,
    projectId: request.projectId,
    programId: request.programId,
    gpuModel: line.gpuModel,
    kind: line.kind,
    maxConcurrentGpus: line.grantedMaxConcurrentGpus ?? line.maxConcurrentGpus,
    // A reserved line may have its own window inside the request's; planning may later move it.
    startsAt: (reserved ? line.startsAt : null) ?? request.startsAt,
    endsAt: (reserved ? line.endsAt : null) ?? request.endsAt,
    servers: reserved ? (line.grantedServers ?? line.servers) : null,
    sameInterconnectDomain: reserved && line.sameInterconnectDomain,
  };
}
