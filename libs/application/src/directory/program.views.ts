import {
  basisPointsToDecimal,
  DomainError,
  describeRecallRule,
  isDomainError,
  parseRecallRules,
  toAmount,
  type RecallRule,
  type GpuAmount,
  type ProgramRules,
  type RubricCriterion,
  type SectorTargets,
  type Track,
} from '#domain';
import type { AgencyEntity, BudgetPosition, ProgramEntity, UserEntity } from '#persistence';

export interface AgencyView {
  code: string;
  name: string;
  createdAt: Date;
}

export function agencyView(agency: AgencyEntity): AgencyView {
  return { code: agency.code, name: agency.name, createdAt: agency.createdAt };
}

export interface ProgramBudgetView {
  gpuModel: string;
  budget: GpuAmount;
  granted: GpuAmount;
  left: GpuAmount;
  /** Approved grants the scheduler has not posted yet: part of `left` that is already promised. */
  pending: GpuAmount;
}

export interface ProgramView {
  id: string;
  code: string;
  name: string;
  agencyCode: string;
  fiscalYear: number;
  /** The application window. */
  startsAt: Date;
  endsAt: Date;
  eligibleOrganizationTypes: string[];
  tracks: Track[];
  sectorTargets: SectorTargets;
  rubric: RubricCriterion[];
  /** Share of the supply price (공급가액: list value after the organization type's discounts) the program pays, as the decimals the call was created with (0.7 = 70%). */
  subsidyRates: Record<string, number>;
  /** The same rates in the integer basis points prices are computed with (7000 = 70%). */
  subsidyRatesBasisPoints: Record<string, number>;
  budgets: ProgramBudgetView[];
  /** What happens to running workloads of an exhausted, expired or suspended allocation: finish | stop. */
  onExhaustion: string;
  /** Times a workload the infrastructure failed (node down, lost run) is requeued before it fails. */
  infrastructureRequeueLimit: number;
  /** Use-it-or-lose-it rules, each with the sentence people read. */
  recallRules: RecallRuleView[];
  createdAt: Date;
}

export type RecallRuleView = RecallRule & {
  /** e.g. "at day 30, under 10% used: 25% of the remainder returns to the program". */
  description: string;
};

/** The program's stored recall rules; a row edited by hand into something unreadable is a 409. */
export function storedRecallRules(program: ProgramEntity): RecallRule[] {
  try {
    return parseRecallRules(program.recallRules);
  } catch (error) {
    if (!isDomainError(error)) throw error;
    throw new DomainError(
      'conflict',
      'PROGRAM_MISCONFIGURED',
      `Program ${program.code} has stored recall rules this service cannot read; the program operator must fix them with PUT /v1/programs/${program.id}/usage-policy.`,
      { programId: program.id, problems: (error.details as { problems?: unknown } | undefined)?.problems },
    );
  }
}

export function recallRuleViews(rules: readonly RecallRule[]): RecallRuleView[] {
  return rules.map((rule) => ({ ...rule, description: describeRecallRule(rule) }));
}

export function programView(
  program: ProgramEntity,
  rules: ProgramRules,
  positions: BudgetPosition[],
): ProgramView {
  const basisPoints = Object.fromEntries(
    Object.entries(rules.subsidyRates).filter((entry): entry is [string, number] => entry[1] !== undefined),
  );
  return {
    id: program.id,
    code: program.code,
    name: program.name,
    agencyCode: program.agencyCode,
    fiscalYear: program.fiscalYear,
    startsAt: program.startsAt,
    endsAt: program.endsAt,
    eligibleOrganizationTypes: rules.eligibleOrganizationTypes,
    tracks: rules.tracks,
    sectorTargets: rules.sectorTargets,
    rubric: rules.rubric,
    subsidyRates: Object.fromEntries(
      Object.entries(basisPoints).map(([type, rate]) => [type, basisPointsToDecimal(rate)]),
    ),
    subsidyRatesBasisPoints: basisPoints,
    budgets: positions.map((position) => ({
      gpuModel: position.gpuModel,
      budget: toAmount(position.budget),
      granted: toAmount(position.granted),
      left: toAmount(position.left),
      pending: toAmount(position.pending),
    })),
    onExhaustion: program.onExhaustion,
    infrastructureRequeueLimit: program.infrastructureRequeueLimit,
    recallRules: recallRuleViews(storedRecallRules(program)),
    createdAt: program.createdAt,
  };
}

export interface ProgramReviewerView {
  userId: string;
  email: string;
  name: string;
  active: boolean;
  /** False when the user has lost the reviewer role since the assignment: they can no longer review. */
  holdsReviewerRole: boolean;
  assignedAt: Date;
}

export function reviewerView(user: UserEntity, assignedAt: Date): ProgramReviewerView {
  return {
    userId: user.id,
    email: user.email,
    name: user.name,
    active: user.active,
    holdsReviewerRole: user.roles.includes('reviewer'),
    assignedAt,
  };
}
