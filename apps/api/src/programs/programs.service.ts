import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import {
  conflict,
  gpuHoursToSeconds,
  parseRecallRules,
  invalid,
  programBudgetTransaction,
  ruleViolated,
  sectorTargetProblems,
  summarizeViolations,
  validateProgramRules,
  type OrganizationType,
  type ProgramRules,
  type SectorTargets,
} from '#domain';
import { AgencyEntity, postLedgerTransaction, ProgramBudgetEntity, ProgramEntity } from '#persistence';
import { JobProducer } from '#queues';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { pageOf, type Page } from '../common/pagination.js';
import {
  DEFAULT_SECTOR_TARGETS,
  type CreateProgramRequest,
  type ListProgramsQuery,
  type UsagePolicyRequest,
} from './dto/program.request.js';
import { programView, type ProgramView } from './dto/program.response.js';
import { newestFirst } from '../common/query-support.js';
import { ProgramReader, rulesOf, type BudgetPosition } from './program-reader.service.js';
import { decimalToBasisPoints } from './subsidy-rate.js';

/** Funding calls: creation with their GPU budgets (posted to the ledger), the list of calls, one call. */
@Injectable()
export class ProgramsService {
  private readonly logger = new Logger(ProgramsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly reader: ProgramReader,
    private readonly jobs: JobProducer,
  ) {}

  /**
   * Creates the program, its budget lines and one ledger posting per line (funding → program), and
   * the audit event, in one transaction: a program never exists without its budget in the ledger.
   */
  async create(
    principal: Principal,
    body: CreateProgramRequest,
    requestId: string | null,
  ): Promise<ProgramView> {
    const rules = validateProgramRules(rulesFromRequest(body));
    // 400 INVALID_RECALL_RULES listing every problem, before anything is written.
    const recallRules = parseRecallRules(body.recallRules ?? []);
    return this.dataSource.transaction(async (manager) => {
      const agency = await manager.getRepository(AgencyEntity).findOne({ where: { code: body.agencyCode } });
      if (!agency) {
        throw ruleViolated(
          'UNKNOWN_AGENCY',
          `Agency ${body.agencyCode} does not exist; create it with POST /v1/agencies first.`,
          { agencyCode: body.agencyCode },
        );
      }
      const inserted = await manager
        .createQueryBuilder()
        .insert()
        .into(ProgramEntity)
        .values({
          code: rules.code,
          name: body.name,
          agencyCode: body.agencyCode,
          fiscalYear: rules.fiscalYear,
          startsAt: rules.startsAt,
          endsAt: rules.endsAt,
          eligibleOrganizationTypes: rules.eligibleOrganizationTypes,
          tracks: rules.tracks,
          sectorTargets: rules.sectorTargets,
          rubric: rules.rubric,
          subsidyRates: rules.subsidyRates,
          onExhaustion: body.onExhaustion ?? 'finish',
          recallRules,
        })
        .orIgnore()
        .returning(['id'])
        .execute();
      const row = (inserted.raw as { id: string }[])[0];
      if (!row)
        throw conflict('PROGRAM_CODE_TAKEN', `A program with code ${rules.code} already exists.`, {
          code: rules.code,
        });
      const programId = row.id;

      const budgets = Object.entries(rules.budgetsGpuSeconds).map(([gpuModel, budgetGpuSeconds]) => ({
        programId,
        gpuModel,
        budgetGpuSeconds,
      }));
      await manager.getRepository(ProgramBudgetEntity).insert(budgets);
      for (const budget of budgets) {
        await postLedgerTransaction(manager, {
          ...programBudgetTransaction(programId, budget.gpuModel, budget.budgetGpuSeconds),
          requestId,
        });
      }

      const view = await this.view(manager, programId);
      await this.audit.record(manager, {
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

  /** The public list of calls, newest first; `assignedToMe` narrows it to the calls the caller reviews. */
  async list(principal: Principal, query: ListProgramsQuery): Promise<Page<ProgramView>> {
    const builder = this.dataSource.getRepository(ProgramEntity).createQueryBuilder('p');
    if (query.agencyCode !== undefined)
      builder.andWhere('p.agency_code = :agencyCode', { agencyCode: query.agencyCode });
    if (query.fiscalYear !== undefined)
      builder.andWhere('p.fiscal_year = :fiscalYear', { fiscalYear: query.fiscalYear });
    if (query.assignedToMe === 'true') {
      if (principal.kind !== 'user') return { items: [], nextCursor: null };
      builder.innerJoin('program_reviewers', 'r', 'r.program_id = p.id AND r.user_id = :userId', {
        userId: principal.userId,
      });
    }
    const rows = await newestFirst(builder, query).getMany();
    const positions = await this.reader.budgetPositionsOf(
      this.dataSource.manager,
      rows.slice(0, query.limit).map((program) => program.id),
    );
    return pageOf(rows, query.limit, (program) => viewOf(program, positions.get(program.id) ?? []));
  }

  async get(programId: string): Promise<ProgramView> {
    return this.view(this.dataSource.manager, programId);
  }

  /**
   * Replaces what happens to running workloads of allocations that cannot run and the recall rules
   * (400 INVALID_RECALL_RULES, nothing written, when a rule is wrong). Proposals already made stay;
   * a rule id that stays the same does not fire again for the allocations it already proposed for.
   */
  async updateUsagePolicy(
    principal: Principal,
    programId: string,
    body: UsagePolicyRequest,
    requestId: string | null,
  ): Promise<ProgramView> {
    const recallRules = parseRecallRules(body.recallRules);
    return this.dataSource.transaction(async (manager) => {
      await this.reader.lockProgram(manager, programId);
      const program = await this.reader.findProgram(manager, programId);
      const before = { onExhaustion: program.onExhaustion, recallRules: program.recallRules };
      await manager
        .getRepository(ProgramEntity)
        .update(programId, { onExhaustion: body.onExhaustion, recallRules });
      const view = await this.view(manager, programId);
      await this.audit.record(manager, {
        principal,
        action: 'program.usage_policy_changed',
        subjectType: 'program',
        subjectId: programId,
        before,
        after: { onExhaustion: view.onExhaustion, recallRules: view.recallRules },
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
  async updateSectorTargets(
    principal: Principal,
    programId: string,
    targets: SectorTargets,
    requestId: string | null,
  ): Promise<ProgramView> {
    const problems = sectorTargetProblems(programId, targets);
    if (problems.length > 0) {
      throw invalid('INVALID_SECTOR_TARGETS', summarizeViolations(problems), { problems });
    }
    const view = await this.dataSource.transaction(async (manager) => {
      await this.reader.lockProgram(manager, programId);
      const program = await this.reader.findProgram(manager, programId);
      await manager.getRepository(ProgramEntity).update(programId, { sectorTargets: { ...targets } });
      const after = await this.view(manager, programId);
      await this.audit.record(manager, {
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
    const models = view.budgets.map((budget) => budget.gpuModel);
    try {
      await this.jobs.enqueueMany(
        models.map((gpuModel) => ({ name: 'planning.replan', data: { gpuModel } })),
      );
    } catch (error: unknown) {
      // Committed; the scheduler's periodic waitlist re-plan uses the new targets.
      this.logger.warn(
        { programId, err: error instanceof Error ? error.message : String(error) },
        'planning.replan enqueue failed; the periodic re-plan picks the new targets up',
      );
    }
    return view;
  }

  private async view(manager: EntityManager, programId: string): Promise<ProgramView> {
    const program = await this.reader.findProgram(manager, programId);
    return viewOf(program, await this.reader.budgetPositions(manager, programId));
  }
}

function viewOf(program: ProgramEntity, positions: BudgetPosition[]): ProgramView {
  const budgets = Object.fromEntries(positions.map((position) => [position.gpuModel, position.budget]));
  return programView(program, rulesOf(program, budgets), positions);
}

/** The request in the domain's terms: GPU-hours → GPU-seconds (bigint), decimal rates → basis points. */
function rulesFromRequest(body: CreateProgramRequest): ProgramRules {
  const subsidyRates: Partial<Record<OrganizationType, number>> = {};
  for (const [type, rate] of Object.entries(body.subsidyRates) as [OrganizationType, number | undefined][]) {
    if (rate === undefined) continue;
    // The schema has already refused rates this cannot read; NaN makes the domain say so again if not.
    subsidyRates[type] = decimalToBasisPoints(rate) ?? Number.NaN;
  }
  return {
    code: body.code,
    fiscalYear: body.fiscalYear,
    startsAt: new Date(body.startsAt),
    endsAt: new Date(body.endsAt),
    eligibleOrganizationTypes: body.eligibleOrganizationTypes,
    tracks: body.tracks,
    rubric: body.rubric,
    sectorTargets: body.sectorTargets ?? { ...DEFAULT_SECTOR_TARGETS },
    subsidyRates,
    budgetsGpuSeconds: Object.fromEntries(
      body.budgets.map((line) => [line.gpuModel, gpuHoursToSeconds(BigInt(line.gpuHours))]),
    ),
  };
}
