import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';
import {
  DomainError,
  notFound,
  ORGANIZATION_TYPES,
  programBudgetAccount,
  type LedgerTransactionKind,
  type ProgramRules,
} from '#domain';
import {
  accountBalances,
  ProgramBudgetEntity,
  ProgramEntity,
  ProgramReviewerEntity,
  UserEntity,
} from '#persistence';
import { rubricCriterionSchema, sectorTargetsSchema, trackSchema } from './dto/program.request.js';

/** Where a program's budget for one GPU model stands, in GPU-seconds. */
export interface BudgetPosition {
  gpuModel: string;
  /** What the program was given (program_budgets; posted funding → program). */
  budget: bigint;
  /** Sum of grants out of the program account (expiries flowing back are not subtracted). */
  granted: bigint;
  /** The program account's balance. */
  left: bigint;
  /** Approved but not yet posted by the scheduler (grant intents still pending): spoken for. */
  pending: bigint;
}

// The jsonb columns were validated on the way in; parsing them again keeps a hand-edited row from
// travelling further as a wrong type.
const storedRules = z.object({
  eligibleOrganizationTypes: z.array(z.enum(ORGANIZATION_TYPES)),
  tracks: z.array(trackSchema),
  rubric: z.array(rubricCriterionSchema),
  sectorTargets: sectorTargetsSchema,
  subsidyRates: z.partialRecord(z.enum(ORGANIZATION_TYPES), z.number().int().min(0).max(10_000)),
});

const GRANT: LedgerTransactionKind = 'grant';

/**
 * Read side of programs for other features (allocation requests, reviews). Every method runs on the
 * caller's EntityManager, so it sees — and locks within — the caller's transaction.
 */
@Injectable()
export class ProgramReader {
  /** The program row; 404 NOT_FOUND when there is none. */
  async findProgram(manager: EntityManager, programId: string): Promise<ProgramEntity> {
    const program = await manager.getRepository(ProgramEntity).findOne({ where: { id: programId } });
    if (!program) throw notFound('Program', programId);
    return program;
  }

  async programExists(manager: EntityManager, programId: string): Promise<boolean> {
    return manager.getRepository(ProgramEntity).exists({ where: { id: programId } });
  }

  /** The program's rules as libs/domain checks requests against them; 404 when there is no such program. */
  async loadRules(manager: EntityManager, programId: string): Promise<ProgramRules> {
    const program = await this.findProgram(manager, programId);
    const budgets = await manager
      .getRepository(ProgramBudgetEntity)
      .find({ where: { programId }, order: { gpuModel: 'ASC' } });
    return rulesOf(program, Object.fromEntries(budgets.map((row) => [row.gpuModel, row.budgetGpuSeconds])));
  }

  /**
   * GPU-seconds the program can still promise, per GPU model of its budget: the program account's
   * balance minus approved grants the scheduler has not posted yet. Callers deciding on grants lock
   * the program first (lockProgram) so two approvals cannot both spend the same remainder.
   */
  async budgetLeft(manager: EntityManager, programId: string): Promise<Record<string, bigint>> {
    const positions = await this.budgetPositions(manager, programId);
    return Object.fromEntries(
      positions.map((position) => [position.gpuModel, position.left - position.pending]),
    );
  }

  /** Serializes decisions that spend one program's budget (row lock until the caller's transaction ends). */
  async lockProgram(manager: EntityManager, programId: string): Promise<void> {
    const program = await manager
      .getRepository(ProgramEntity)
      .findOne({ where: { id: programId }, lock: { mode: 'pessimistic_write' } });
    if (!program) throw notFound('Program', programId);
  }

  async budgetPositions(manager: EntityManager, programId: string): Promise<BudgetPosition[]> {
    const positions = await this.budgetPositionsOf(manager, [programId]);
    return positions.get(programId) ?? [];
  }

  /** Budget positions of several programs at once (for list pages). */
  async budgetPositionsOf(
    manager: EntityManager,
    programIds: string[],
  ): Promise<Map<string, BudgetPosition[]>> {
    const result = new Map<string, BudgetPosition[]>(programIds.map((id) => [id, []]));
    if (programIds.length === 0) return result;
    const budgets = await manager
      .getRepository(ProgramBudgetEntity)
      .createQueryBuilder('b')
      .where('b.program_id IN (:...programIds)', { programIds })
      .orderBy('b.gpu_model', 'ASC')
      .getMany();
    const accounts = budgets.map((row) => programBudgetAccount(row.programId, row.gpuModel));
    // One after the other: the manager may be a transaction's, whose connection runs one query at a time.
    const balances = await accountBalances(manager, accounts);
    const granted = await grantedOutOf(manager, accounts);
    const pending = await pendingGrants(manager, programIds);
    for (const row of budgets) {
      const account = programBudgetAccount(row.programId, row.gpuModel);
      result.get(row.programId)?.push({
        gpuModel: row.gpuModel,
        budget: row.budgetGpuSeconds,
        granted: granted.get(account) ?? 0n,
        left: balances.get(account) ?? 0n,
        pending: pending.get(`${row.programId}|${row.gpuModel}`) ?? 0n,
      });
    }
    return result;
  }

  /** True when the user is assigned to review the program and is still an active user with the reviewer role. */
  async isReviewer(manager: EntityManager, programId: string, userId: string): Promise<boolean> {
    const assigned = await manager
      .getRepository(ProgramReviewerEntity)
      .exists({ where: { programId, userId } });
    if (!assigned) return false;
    const user = await manager.getRepository(UserEntity).findOne({ where: { id: userId } });
    return user !== null && user.active && user.roles.includes('reviewer');
  }

  /** Programs the user is assigned to review. */
  async reviewerProgramIds(manager: EntityManager, userId: string): Promise<string[]> {
    const rows = await manager.getRepository(ProgramReviewerEntity).find({ where: { userId } });
    return rows.map((row) => row.programId);
  }
}

/** A program row and its budgets in the domain's terms. */
export function rulesOf(program: ProgramEntity, budgetsGpuSeconds: Record<string, bigint>): ProgramRules {
  const stored = storedRules.safeParse(program);
  if (!stored.success) {
    throw new DomainError(
      'conflict',
      'PROGRAM_MISCONFIGURED',
      `Program ${program.code} has stored rules this service cannot read; the program operator must fix them.`,
      {
        programId: program.id,
        problems: stored.error.issues.map((issue) => ({
          path: issue.path.join('.'),
          message: issue.message,
        })),
      },
    );
  }
  return {
    code: program.code,
    fiscalYear: program.fiscalYear,
    startsAt: program.startsAt,
    endsAt: program.endsAt,
    ...stored.data,
    budgetsGpuSeconds,
  };
}

/** Per account: GPU-seconds that left it in `grant` transactions. */
async function grantedOutOf(manager: EntityManager, accounts: string[]): Promise<Map<string, bigint>> {
  const result = new Map<string, bigint>();
  if (accounts.length === 0) return result;
  const rows = await manager.query<{ account: string; granted: string }[]>(
    `SELECT e.account, (-SUM(e.amount))::text AS granted
       FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
      WHERE e.account = ANY($1) AND t.kind = $2 AND e.amount < 0
      GROUP BY e.account`,
    [accounts, GRANT],
  );
  for (const row of rows) result.set(row.account, BigInt(row.granted));
  return result;
}

/** Per "programId|gpuModel": granted GPU-seconds of approved requests whose grant intent is still pending. */
async function pendingGrants(manager: EntityManager, programIds: string[]): Promise<Map<string, bigint>> {
  const rows = await manager.query<{ program_id: string; gpu_model: string; pending: string }[]>(
    `SELECT r.program_id, l.gpu_model, SUM(l.granted_gpu_seconds)::text AS pending
       FROM grant_intents g
       JOIN allocation_requests r ON r.id = g.request_id
       JOIN allocation_request_lines l ON l.request_id = r.id
      WHERE r.program_id = ANY($1) AND g.status = 'pending' AND l.granted_gpu_seconds > 0
      GROUP BY r.program_id, l.gpu_model`,
    [programIds],
  );
  return new Map(rows.map((row) => [`${row.program_id}|${row.gpu_model}`, BigInt(row.pending)]));
}
