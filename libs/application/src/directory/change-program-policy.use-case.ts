import { Injectable, Logger } from '@nestjs/common';
import {
  DEFAULT_INFRASTRUCTURE_REQUEUE_LIMIT,
  invalid,
  parseRecallRules,
  sectorTargetProblems,
  summarizeViolations,
  type Principal,
  type SectorTargets,
} from '#domain';
import { AuditRepository, ProgramRepository, TransactionRunner } from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { ProgramReader } from './program-reader.js';
import { loadProgramView } from './program-queries.js';
import type { ProgramView } from './program.views.js';

/** The admin's changes to a running call: its usage policy and its sector targets, each audited. */
@Injectable()
export class ChangeProgramPolicyUseCase {
  private readonly logger = new Logger(ChangeProgramPolicyUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly programs: ProgramRepository,
    private readonly reader: ProgramReader,
    private readonly audit: AuditRepository,
    private readonly jobs: JobProducer,
  ) {}

  /**
   * Replaces what happens to running workloads of allocations that cannot run and the recall rules
   * (400 INVALID_RECALL_RULES, nothing written, when a rule is wrong). Proposals already made stay;
   * a rule id that stays the same does not fire again for the allocations it already proposed for.
   */
  async usagePolicy(
    principal: Principal,
    programId: string,
    input: { onExhaustion: string; recallRules: unknown[]; infrastructureRequeueLimit?: number | undefined },
    requestId: string | null,
  ): Promise<ProgramView> {
    const recallRules = parseRecallRules(input.recallRules);
    return this.transactions.run(async (tx) => {
      const program = await this.reader.lockProgram(tx, programId);
      const before = {
        onExhaustion: program.onExhaustion,
        recallRules: program.recallRules,
        infrastructureRequeueLimit: program.infrastructureRequeueLimit,
      };
      await this.programs.update(tx, programId, {
        onExhaustion: input.onExhaustion,
        recallRules,
        infrastructureRequeueLimit: input.infrastructureRequeueLimit ?? DEFAULT_INFRASTRUCTURE_REQUEUE_LIMIT,
      });
      const view = await loadProgramView(this.reader, tx, programId);
      await this.audit.record(tx, {
        principal,
        action: 'program.usage_policy_changed',
        subjectType: 'program',
        subjectId: programId,
        before,
        after: {
          onExhaustion: view.onExhaustion,
          recallRules: view.recallRules,
          infrastructureRequeueLimit: view.infrastructureRequeueLimit,
        },
        requestId,
      });
      return view;
    });
  }

  /**
   * Replaces the program's sector targets (whole percents adding up to 100; 400 INVALID_SECTOR_TARGETS
   * lists every problem). Placed reservations keep their place; the waitlists of the program's GPU
   * models are re-planned under the new targets after commit.
   */
  async sectorTargets(
    principal: Principal,
    programId: string,
    targets: SectorTargets,
    requestId: string | null,
  ): Promise<ProgramView> {
    const problems = sectorTargetProblems(programId, targets);
    if (problems.length > 0) {
      throw invalid('INVALID_SECTOR_TARGETS', summarizeViolations(problems), { problems });
    }
    const view = await this.transactions.run(async (tx) => {
      const program = await this.reader.lockProgram(tx, programId);
      await this.programs.update(tx, programId, { sectorTargets: { ...targets } });
      const after = await loadProgramView(this.reader, tx, programId);
      await this.audit.record(tx, {
        principal,
        action: 'program.sector_targets_changed',
        subjectType: 'program',
        subjectId: programId,
        before: { sectorTargets: program.sectorTargets },
        after: { sectorTargets: after.sectorTargets },
        requestId,
      });
      return after;
    });
    const replans = view.budgets.map((budget): JobItem => ({
      name: 'planning.replan',
      data: { gpuModel: budget.gpuModel },
    }));
    await enqueueAfterCommit(this.jobs, replans, {
      logger: this.logger,
      recoveredBy: "the scheduler's periodic waitlist re-plan",
    });
    return view;
  }
}
