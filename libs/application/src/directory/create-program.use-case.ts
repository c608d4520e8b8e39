import { Injectable } from '@nestjs/common';
import {
  conflict,
  decimalToBasisPoints,
  DEFAULT_SECTOR_TARGETS,
  gpuHoursToSeconds,
  parseRecallRules,
  programBudgetTransaction,
  ruleViolated,
  validateProgramRules,
  type OrganizationType,
  type Principal,
  type ProgramRules,
  type RubricCriterion,
  type SectorTargets,
  type Track,
  DEFAULT_INFRASTRUCTURE_REQUEUE_LIMIT,
} from '#domain';
import {
  AgencyRepository,
  AuditRepository,
  LedgerRepository,
  ProgramRepository,
  TransactionRunner,
  type Tx,
} from '#persistence';
import { ProgramReader } from './program-reader.js';
import { loadProgramView } from './program-queries.js';
import type { ProgramView } from './program.views.js';

/** A funding call as the API accepts it: GPU-hours per model, subsidy rates as decimals (0.7 = 70%). */
export interface CreateProgramInput {
  code: string;
  name: string;
  agencyCode: string;
  fiscalYear: number;
  startsAt: string;
  endsAt: string;
  budgets: { gpuModel: string; gpuHours: number }[];
  subsidyRates: Partial<Record<OrganizationType, number | undefined>>;
  eligibleOrganizationTypes: OrganizationType[];
  tracks: Track[];
  sectorTargets?: SectorTargets | undefined;
  rubric: RubricCriterion[];
  onExhaustion?: string | undefined;
  recallRules?: unknown[] | undefined;
  infrastructureRequeueLimit?: number | undefined;
}

/**
 * Creates the program, its budget lines and one ledger posting per line (funding → program), and
 * the audit event, in one transaction: a program never exists without its budget in the ledger.
 */
@Injectable()
export class CreateProgramUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly programs: ProgramRepository,
    private readonly agencies: AgencyRepository,
    private readonly reader: ProgramReader,
    private readonly ledger: LedgerRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    input: CreateProgramInput,
    requestId: string | null,
  ): Promise<ProgramView> {
    const rules = validateProgramRules(rulesFromInput(input));
    // 400 INVALID_RECALL_RULES listing every problem, before anything is written.
    const recallRules = parseRecallRules(input.recallRules ?? []);
    return this.transactions.run(async (tx) => {
      if (!(await this.agencies.exists(input.agencyCode, tx))) {
        throw ruleViolated(
          'UNKNOWN_AGENCY',
          `Agency ${input.agencyCode} does not exist; create it with POST /v1/agencies first.`,
          { agencyCode: input.agencyCode },
        );
      }
      const programId = await this.programs.insertIfAbsent(tx, {
        code: rules.code,
        name: input.name,
        agencyCode: input.agencyCode,
        fiscalYear: rules.fiscalYear,
        startsAt: rules.startsAt,
        endsAt: rules.endsAt,
        eligibleOrganizationTypes: rules.eligibleOrganizationTypes,
        tracks: rules.tracks,
        sectorTargets: rules.sectorTargets,
        rubric: rules.rubric,
        subsidyRates: rules.subsidyRates,
        onExhaustion: input.onExhaustion ?? 'finish',
        recallRules,
        infrastructureRequeueLimit: input.infrastructureRequeueLimit ?? DEFAULT_INFRASTRUCTURE_REQUEUE_LIMIT,
      });
      if (!programId)
        throw conflict('PROGRAM_CODE_TAKEN', `A program with code ${rules.code} already exists.`, {
          code: rules.code,
        });
      await this.fund(tx, programId, rules, requestId);
      const view = await loadProgramView(this.reader, tx, programId);
      await this.audit.record(tx, {
        principal,
        action: 'program.created',
        subjectType: 'program',
        subjectId: programId,
        after: view,
        requestId,
      });
      return view;
    });
  }

  /** The budget lines, each posted funding → program. */
  private async fund(
    tx: Tx,
    programId: string,
    rules: ProgramRules,
    requestId: string | null,
  ): Promise<void> {
    const budgets = Object.entries(rules.budgetsGpuSeconds).map(([gpuModel, budgetGpuSeconds]) => ({
      programId,
      gpuModel,
      budgetGpuSeconds,
    }));
    await this.programs.insertBudgets(tx, budgets);
    for (const budget of budgets) {
      await this.ledger.post(tx, {
        ...programBudgetTransaction(programId, budget.gpuModel, budget.budgetGpuSeconds),
        requestId,
      });
    }
  }
}

/** The request in the domain's terms: GPU-hours → GPU-seconds (bigint), decimal rates → basis points. */
function rulesFromInput(input: CreateProgramInput): ProgramRules {
  const subsidyRates: Partial<Record<OrganizationType, number>> = {};
  for (const [type, rate] of Object.entries(input.subsidyRates) as [OrganizationType, number | undefined][]) {
    if (rate === undefined) continue;
    // The schema has already refused rates this cannot read; NaN makes the domain say so again if not.
    subsidyRates[type] = decimalToBasisPoints(rate) ?? Number.NaN;
  }
  return {
    code: input.code,
    fiscalYear: input.fiscalYear,
    startsAt: new Date(input.startsAt),
    endsAt: new Date(input.endsAt),
    eligibleOrganizationTypes: input.eligibleOrganizationTypes,
    tracks: input.tracks,
    rubric: input.rubric,
    sectorTargets: input.sectorTargets ?? { ...DEFAULT_SECTOR_TARGETS },
    subsidyRates,
    budgetsGpuSeconds: Object.fromEntries(
      input.budgets.map((line) => [line.gpuModel, gpuHoursToSeconds(BigInt(line.gpuHours))]),
    ),
  };
}
