import type { DataSource, EntityManager } from 'typeorm';
import { grantTransaction, programBudgetAccount } from '#domain';
import {
  accountBalances,
  AllocationEntity,
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  AuditEventEntity,
  auditJson,
  GrantIntentEntity,
  postLedgerTransaction,
} from '#persistence';

export type GrantOutcome =
  /** `plannedAllocationIds`: the reserved allocations whose `planning.plan` job to enqueue after commit. */
  | { outcome: 'granted'; allocationIds: string[]; plannedAllocationIds: string[] }
  | { outcome: 'already_granted' }
  | { outcome: 'no_intent' }
  | { outcome: 'insufficient_budget'; gpuModel: string; shortGpuSeconds: bigint };

/**
 * Turns an approved request into allocations and posts the grant (program budget → allocation),
 * all in one PostgreSQL transaction. Idempotent: the grant intent row is locked and checked, each
 * allocation is unique per request line, each posting unique per idempotency key — so a redelivered
 * job, a second approval, or a reconciler re-enqueue all end in exactly one grant.
 */
export class GrantService {
  constructor(
    private readonly dataSource: DataSource,
    /** Fault injection for tests: keep the transaction open so a test can kill the process inside it. */
    private readonly faultDelayMs = 0,
  ) {}

  async grant(requestId: string, jobId?: string): Promise<GrantOutcome> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      const intent = await manager
        .getRepository(GrantIntentEntity)
        .findOne({ where: { requestId }, lock: { mode: 'pessimistic_write' } });
      if (!intent) return { outcome: 'no_intent' };
      if (intent.status === 'done') return { outcome: 'already_granted' };

      const request = await manager
        .getRepository(AllocationRequestEntity)
        .findOneOrFail({ where: { id: requestId } });
      const lines = await manager
        .getRepository(AllocationRequestLineEntity)
        .find({ where: { requestId }, order: { lineNo: 'ASC' } });
      const granted = lines.filter((line) => (line.grantedGpuSeconds ?? 0n) > 0n);

      // Serialize grants per program budget, then make sure the budget still covers them: the
      // ledger never lets a program grant more than it was given.
      const shortfall = await this.checkBudget(manager, request.programId, granted);
      if (shortfall) {
        await manager
          .getRepository(GrantIntentEntity)
          .update(intent.id, { status: 'failed', attempts: intent.attempts + 1 });
        await this.audit(
          manager,
          requestId,
          'request.grant_failed',
          { reason: 'insufficient_budget', ...shortfall },
          jobId,
        );
        return { outcome: 'insufficient_budget', ...shortfall };
      }

      const allocationIds: string[] = [];
      const plannedAllocationIds: string[] = [];
      for (const line of granted) {
        const allocationId = await this.allocationFor(manager, request, line);
        allocationIds.push(allocationId);
        if (line.kind === 'reserved') {
          // The planning outbox row commits with the allocation: the planning job or the
          // reconciler's sweep always finds it, whatever Redis loses.
          await manager.query(
            `INSERT INTO reservation_plans (allocation_id, status) VALUES ($1, 'pending') ON CONFLICT (allocation_id) DO NOTHING`,
            [allocationId],
          );
          plannedAllocationIds.push(allocationId);
        }
        await postLedgerTransaction(manager, {
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
      await manager
        .getRepository(GrantIntentEntity)
        .update(intent.id, { status: 'done', completedAt: new Date(), attempts: intent.attempts + 1 });
      await this.audit(manager, requestId, 'request.granted', { allocationIds }, jobId);
      return { outcome: 'granted', allocationIds, plannedAllocationIds };
    });
  }

  private async checkBudget(
    manager: EntityManager,
    programId: string,
    lines: AllocationRequestLineEntity[],
  ): Promise<{ gpuModel: string; shortGpuSeconds: bigint } | null> {
    const models = [...new Set(lines.map((line) => line.gpuModel))].sort();
    if (models.length === 0) return null;
    await manager.query(
      'SELECT 1 FROM program_budgets WHERE program_id = $1 AND gpu_model = ANY($2) ORDER BY gpu_model FOR UPDATE',
      [programId, models],
    );
    const balances = await accountBalances(
      manager,
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

  private async allocationFor(
    manager: EntityManager,
    request: AllocationRequestEntity,
    line: AllocationRequestLineEntity,
  ): Promise<string> {
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(AllocationEntity)
      .values({
        requestId: request.id,
        requestLineId: line.id,
        projectId: request.projectId,
        programId: request.programId,
        gpuModel: line.gpuModel,
        kind: line.kind,
        maxConcurrentGpus: line.grantedMaxConcurrentGpus ?? line.maxConcurrentGpus,
        // A reserved line may have its own window inside the request's; planning may later move it.
        startsAt: (line.kind === 'reserved' ? line.startsAt : null) ?? request.startsAt,
        endsAt: (line.kind === 'reserved' ? line.endsAt : null) ?? request.endsAt,
        status: 'active',
        servers: line.kind === 'reserved' ? (line.grantedServers ?? line.servers) : null,
        sameInterconnectDomain: line.kind === 'reserved' && line.sameInterconnectDomain,
      })
      .orIgnore()
      .returning(['id'])
      .execute();
    const row = (inserted.raw as { id: string }[])[0];
    if (row) return row.id;
    const existing = await manager
      .getRepository(AllocationEntity)
      .findOneOrFail({ where: { requestLineId: line.id } });
    return existing.id;
  }

  private async audit(
    manager: EntityManager,
    requestId: string,
    action: string,
    after: object,
    jobId?: string,
  ): Promise<void> {
    await manager.getRepository(AuditEventEntity).insert({
      actorId: null,
      actorKind: 'system',
      action,
      subjectType: 'allocation_request',
      subjectId: requestId,
      before: null,
      after: auditJson(after),
      requestId: jobId ? `job:${jobId}` : null,
    });
  }
}
