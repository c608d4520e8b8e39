import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { DomainError, notFound, ORGANIZATION_TYPES, type ProgramRules } from '#domain';
import {
  ProgramRepository,
  UserRepository,
  type BudgetPosition,
  type ProgramEntity,
  type Tx,
} from '#persistence';
import { rubricCriterionSchema, sectorTargetsSchema, trackSchema } from './program-rules.schemas.js';

// The jsonb columns were validated on the way in; parsing them again keeps a hand-edited row from
// travelling further as a wrong type.
const storedRules = z.object({
  eligibleOrganizationTypes: z.array(z.enum(ORGANIZATION_TYPES)),
  tracks: z.array(trackSchema),
  rubric: z.array(rubricCriterionSchema),
  sectorTargets: sectorTargetsSchema,
  subsidyRates: z.partialRecord(z.enum(ORGANIZATION_TYPES), z.number().int().min(0).max(10_000)),
});

/**
 * Read side of programs for the programs' own use cases and other features (allocation requests,
 * reviews). Every method runs on the caller's unit of work, so it sees — and locks within — the
 * caller's transaction.
 */
@Injectable()
export class ProgramReader {
  constructor(
    private readonly programs: ProgramRepository,
    private readonly users: UserRepository,
  ) {}

  /** The program row; 404 NOT_FOUND when there is none. */
  async findProgram(tx: Tx | undefined, programId: string): Promise<ProgramEntity> {
    const program = await this.programs.find(programId, tx);
    if (!program) throw notFound('Program', programId);
    return program;
  }

  programExists(tx: Tx, programId: string): Promise<boolean> {
    return this.programs.exists(programId, tx);
  }

  /** The program's rules as libs/domain checks requests against them; 404 when there is no such program. */
  async loadRules(tx: Tx, programId: string): Promise<ProgramRules> {
    const program = await this.findProgram(tx, programId);
    const budgets = await this.programs.budgetsOf(programId, tx);
    return rulesOf(program, Object.fromEntries(budgets.map((row) => [row.gpuModel, row.budgetGpuSeconds])));
  }

  /**
   * GPU-seconds the program can still promise, per GPU model of its budget: the program account's
   * balance minus approved grants the scheduler has not posted yet. Callers deciding on grants lock
   * the program first (lockProgram) so two approvals cannot both spend the same remainder.
   */
  async budgetLeft(tx: Tx, programId: string): Promise<Record<string, bigint>> {
    const positions = await this.budgetPositions(tx, programId);
    return Object.fromEntries(
      positions.map((position) => [position.gpuModel, position.left - position.pending]),
    );
  }

  /** Serializes decisions that spend one program's budget (row lock until the caller's transaction ends). */
  async lockProgram(tx: Tx, programId: string): Promise<ProgramEntity> {
    const program = await this.programs.findForUpdate(tx, programId);
    if (!program) throw notFound('Program', programId);
    return program;
  }

  async budgetPositions(tx: Tx, programId: string): Promise<BudgetPosition[]> {
    const positions = await this.programs.budgetPositionsOf([programId], tx);
    return positions.get(programId) ?? [];
  }

  /** Budget positions of several programs at once (for list pages). */
  budgetPositionsOf(tx: Tx | undefined, programIds: string[]): Promise<Map<string, BudgetPosition[]>> {
    return this.programs.budgetPositionsOf(programIds, tx);
  }

  /** True when the user is assigned to review the program and is still an active user with the reviewer role. */
  async isReviewer(tx: Tx | undefined, programId: string, userId: string): Promise<boolean> {
    if (!(await this.programs.isAssignedReviewer(programId, userId, tx))) return false;
    const user = await this.users.find(userId, tx);
    return user !== null && user.active && user.roles.includes('reviewer');
  }

  /** Programs the user is assigned to review. */
  reviewerProgramIds(tx: Tx, userId: string): Promise<string[]> {
    return this.programs.reviewerProgramIds(userId, tx);
  }

  /** Programs the user reviews by the rule of isReviewer: none unless an active user with the reviewer role. */
  async activeReviewerProgramIds(tx: Tx | undefined, userId: string): Promise<string[]> {
    const user = await this.users.find(userId, tx);
    if (!user?.active || !user.roles.includes('reviewer')) return [];
    return this.programs.reviewerProgramIds(userId, tx);
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
