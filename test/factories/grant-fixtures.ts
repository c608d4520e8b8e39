import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { gpuHoursToSeconds, programBudgetTransaction } from '../../libs/domain/src/index.js';
import {
  AgencyEntity,
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  GrantIntentEntity,
  OrganizationEntity,
  postLedgerTransaction,
  ProgramBudgetEntity,
  ProgramEntity,
  ProjectEntity,
  ProjectMemberEntity,
  UserEntity,
} from '../../libs/persistence/src/index.js';

export interface ApprovedRequestFixture {
  programId: string;
  projectId: string;
  requestId: string;
  lineIds: string[];
}

/**
 * A program with a budget and an approved request whose grant intent is pending: the state right
 * after an admin's approval commits and before the scheduler grants it. Written through the real
 * entities and the ledger repository.
 */
export async function seedApprovedRequest(
  dataSource: DataSource,
  options: {
    budgetGpuHours?: bigint;
    grantedGpuHours?: bigint[];
    models?: string[];
    /** Granted concurrency cap of each line (default 8). */
    maxConcurrentGpus?: number;
    /** The allocation window (default: from a day ago to 180 days ahead, so it is active now). */
    startsAt?: Date;
    endsAt?: Date;
  } = {},
): Promise<ApprovedRequestFixture> {
  const models = options.models ?? ['H200'];
  const budget = gpuHoursToSeconds(options.budgetGpuHours ?? 100_000n);
  const granted = (options.grantedGpuHours ?? models.map(() => 1_000n)).map(gpuHoursToSeconds);
  const suffix = randomUUID().slice(0, 8);
  return dataSource.transaction(async (manager) => {
    const agencyCode = `AG${suffix.toUpperCase().replace(/[^A-Z0-9]/g, '')}`.slice(0, 12);
    await manager.getRepository(AgencyEntity).insert({ code: agencyCode, name: 'Test agency' });
    const organization = await manager.getRepository(OrganizationEntity).save({
      name: `Org ${suffix}`,
      type: 'university',
      region: 'daejeon',
      capitalArea: false,
      taxIdKind: null,
      taxId: null,
    });
    const pi = await manager.getRepository(UserEntity).save({
      email: `pi-${suffix}@test.kr`,
      name: 'PI',
      passwordHash: null,
      organizationId: organization.id,
      roles: [],
      agencyCode: null,
    });
    const program = await manager.getRepository(ProgramEntity).save({
      code: `P-${suffix}`,
      name: 'Test program',
      agencyCode,
      fiscalYear: 2026,
      startsAt: new Date(Date.now() - 365 * 24 * 3600 * 1000),
      endsAt: new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000),
      eligibleOrganizationTypes: ['university'],
      tracks: [{ code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 64 }],
      sectorTargets: { national: 50, industry: 30, academia: 20 },
      rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }],
      subsidyRates: {},
    });
    for (const model of models) {
      await manager
        .getRepository(ProgramBudgetEntity)
        .insert({ programId: program.id, gpuModel: model, budgetGpuSeconds: budget });
      await postLedgerTransaction(manager, programBudgetTransaction(program.id, model, budget));
    }
    const project = await manager
      .getRepository(ProjectEntity)
      .save({ title: 'Test project', organizationId: organization.id, piUserId: pi.id });
    await manager
      .getRepository(ProjectMemberEntity)
      .insert({ projectId: project.id, userId: pi.id, role: 'pi' });
    const request = await manager.getRepository(AllocationRequestEntity).save({
      projectId: project.id,
      programId: program.id,
      status: 'partially_approved',
      startsAt: options.startsAt ?? new Date(Date.now() - 24 * 3600 * 1000),
      endsAt: options.endsAt ?? new Date(Date.now() + 180 * 24 * 3600 * 1000),
      justification: 'test',
      createdBy: pi.id,
      submittedAt: new Date(),
      decidedAt: new Date(),
      decidedBy: null,
      decisionNote: null,
    });
    const lineIds: string[] = [];
    for (const [index, model] of models.entries()) {
      const grantedSeconds = granted[index] ?? 0n;
      const line = await manager.getRepository(AllocationRequestLineEntity).save({
        requestId: request.id,
        lineNo: index + 1,
        gpuModel: model,
        kind: 'budget',
        gpuSeconds: grantedSeconds * 2n,
        maxConcurrentGpus: Math.max(16, options.maxConcurrentGpus ?? 8),
        grantedGpuSeconds: grantedSeconds,
        grantedMaxConcurrentGpus: options.maxConcurrentGpus ?? 8,
      });
      lineIds.push(line.id);
    }
    await manager.getRepository(GrantIntentEntity).insert({ requestId: request.id, status: 'pending' });
    return { programId: program.id, projectId: project.id, requestId: request.id, lineIds };
  });
}

/** What the ledger says, straight from SQL: used to check exactly-once grants. */
export async function grantFacts(dataSource: DataSource, requestId: string) {
  const [row] = await dataSource.query<
    {
      allocations: string;
      grant_transactions: string;
      granted: string | null;
      unbalanced: string;
      intent: string;
    }[]
  >(
    `SELECT
       (SELECT count(*) FROM allocations WHERE request_id = $1)::text AS allocations,
       (SELECT count(*) FROM ledger_transactions t JOIN allocation_request_lines l ON t.idempotency_key = 'grant:' || l.id
         WHERE l.request_id = $1)::text AS grant_transactions,
       (SELECT SUM(e.amount) FROM ledger_entries e JOIN allocations a ON e.account = 'allocation:' || a.id
         WHERE a.request_id = $1)::text AS granted,
       (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) <> 0) x)::text
         AS unbalanced,
       (SELECT status FROM grant_intents WHERE request_id = $1) AS intent`,
    [requestId],
  );
  if (!row) throw new Error('no facts');
  return {
    allocations: Number(row.allocations),
    grantTransactions: Number(row.grant_transactions),
    grantedGpuSeconds: BigInt(row.granted ?? '0'),
    unbalancedTransactions: Number(row.unbalanced),
    intent: row.intent,
  };
}
