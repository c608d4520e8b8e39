import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import {
  checkEligibility,
  conflict,
  decideApproval,
  formatGpuHoursForPeople,
  gpuHoursToSeconds,
  invalid,
  isOrganizationType,
  notFound,
  ruleViolated,
  transition,
  reservedGrantProblems,
  summarizeViolations,
  type ApprovedLine,
  type GrantedLine,
  type RequestLine,
  type RuleViolation,
} from '#domain';
import {
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  GrantIntentEntity,
  OrganizationEntity,
  ProjectEntity,
} from '#persistence';
import { JobProducer } from '#queues';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import type { CreateRequestBody, UpdateRequestBody } from './dto/create-request.request.js';
import type { ApproveRequestBody, GrantLineInput, RejectRequestBody } from './dto/decision.request.js';
import { ProgramRulesReader } from './program-rules.reader.js';
import {
  AUDIT_SUBJECT,
  ProjectAccess,
  RequestQueries,
  RequestVisibility,
  stateOf,
  userIdOf,
} from '#application';
import { detailView, type RequestDetailView } from './request-view.js';
import { lineRows, refreshReservedLines } from './reserved-lines.js';

interface Context {
  principal: Principal;
  requestId: string | null;
}

function toInstant(iso: string): Date {
  return new Date(iso);
}

function assertWindow(startsAt: Date, endsAt: Date): void {
  if (endsAt.getTime() <= startsAt.getTime()) {
    throw invalid('VALIDATION_FAILED', 'The request is invalid — endsAt: must be after startsAt', [
      { field: 'endsAt', message: 'must be after startsAt' },
    ]);
  }
}

function domainLine(line: AllocationRequestLineEntity): RequestLine {
  return {
    gpuModel: line.gpuModel,
    kind: line.kind === 'reserved' ? 'reserved' : 'budget',
    gpuSeconds: line.gpuSeconds,
    maxConcurrentGpus: line.maxConcurrentGpus,
  };
}

/**
 * The grant in the domain's terms. A reserved line is granted in whole servers (`{gpuModel, servers}`)
 * and becomes GPU-seconds and a GPU cap at the line's own size per server and window, so
 * decideApproval's rules (never more than asked, a line left out is refused) hold for both kinds.
 * A grant of the wrong kind for its line is 400 INVALID_GRANT; more servers than asked is 422.
 */
function grantedLines(
  lines: readonly AllocationRequestLineEntity[],
  grants: readonly GrantLineInput[],
): { lines: GrantedLine[]; servers: Map<string, number> } {
  const problems: RuleViolation[] = [];
  const excesses: RuleViolation[] = [];
  const servers = new Map<string, number>();
  const granted = grants.map((grant, index): GrantedLine => {
    const asked = lines.find((line) => line.gpuModel === grant.gpuModel);
    const field = `lines[${index}]`;
    if (asked?.kind === 'reserved' && asked.servers !== null) {
      if (grant.servers === undefined) {
        problems.push({
          rule: 'GRANT_KIND_MISMATCH',
          field,
          message: `${grant.gpuModel} is a reserved line of ${asked.servers} servers: grant it as { gpuModel, servers } with at most ${asked.servers} servers.`,
        });
        return { gpuModel: grant.gpuModel, gpuSeconds: 1n, maxConcurrentGpus: 1 };
      }
      excesses.push(...reservedGrantProblems(grant.gpuModel, asked.servers, grant.servers, field));
      servers.set(grant.gpuModel, grant.servers);
      const gpusPerServer = asked.maxConcurrentGpus / asked.servers;
      const seconds = asked.gpuSeconds / BigInt(asked.maxConcurrentGpus);
      return {
        gpuModel: grant.gpuModel,
        gpuSeconds: BigInt(grant.servers * gpusPerServer) * seconds,
        maxConcurrentGpus: grant.servers * gpusPerServer,
      };
    }
    if (
      grant.servers !== undefined ||
      grant.gpuHours === undefined ||
      grant.maxConcurrentGpus === undefined
    ) {
      if (asked !== undefined) {
        problems.push({
          rule: 'GRANT_KIND_MISMATCH',
          field,
          message: `${grant.gpuModel} is a budget line: grant it as { gpuModel, gpuHours, maxConcurrentGpus }.`,
        });
      }
      // Unknown models are left to decideApproval, which names the models the request lists.
      return { gpuModel: grant.gpuModel, gpuSeconds: 1n, maxConcurrentGpus: 1 };
    }
    return {
      gpuModel: grant.gpuModel,
      gpuSeconds: gpuHoursToSeconds(BigInt(grant.gpuHours)),
      maxConcurrentGpus: grant.maxConcurrentGpus,
    };
  });
  if (problems.length > 0) {
    throw invalid('INVALID_GRANT', `The grant cannot be applied: ${summarizeViolations(problems)}`, {
      problems,
    });
  }
  if (excesses.length > 0) {
    throw ruleViolated(
      'GRANT_EXCEEDS_REQUEST',
      `A grant can lower a request but never raise it: ${summarizeViolations(excesses)}`,
      { problems: excesses },
    );
  }
  return { lines: granted, servers };
}

/** What an audit event keeps of a request: enough to read the change without the rows. */
function snapshot(request: AllocationRequestEntity, lines?: readonly AllocationRequestLineEntity[]) {
  return {
    status: request.status,
    ...(lines
      ? {
          lines: lines.map((line) => ({
            gpuModel: line.gpuModel,
            gpuSeconds: line.gpuSeconds,
            maxConcurrentGpus: line.maxConcurrentGpus,
            ...(line.kind === 'reserved'
              ? {
                  kind: line.kind,
                  servers: line.servers,
                  startsAt: line.startsAt,
                  endsAt: line.endsAt,
                  sameInterconnectDomain: line.sameInterconnectDomain,
                  ...(line.grantedServers === null ? {} : { grantedServers: line.grantedServers }),
                }
              : {}),
            ...(line.grantedGpuSeconds === null
              ? {}
              : {
                  grantedGpuSeconds: line.grantedGpuSeconds,
                  grantedMaxConcurrentGpus: line.grantedMaxConcurrentGpus,
                }),
          })),
        }
      : {}),
  };
}

/**
 * The allocation-request lifecycle: drafts, submission (eligibility), decisions (with the grant outbox)
 * and the views. Every transition locks the request row, checks the state machine of libs/domain and
 * writes its audit event in the same transaction.
 */
@Injectable()
export class AllocationRequestsService {
  private readonly logger = new Logger(AllocationRequestsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly access: RequestVisibility,
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramRulesReader,
    private readonly audit: AuditService,
    private readonly jobs: JobProducer,
    private readonly queries: RequestQueries,
  ) {}

  async create(context: Context, body: CreateRequestBody): Promise<RequestDetailView> {
    const userId = userIdOf(context.principal);
    const startsAt = toInstant(body.startsAt);
    const endsAt = toInstant(body.endsAt);
    assertWindow(startsAt, endsAt);
    const id = await this.dataSource.transaction(async (manager) => {
      await this.projects.assertMember(context.principal, body.projectId, manager);
      if (!(await this.programs.programExists(manager, body.programId)))
        throw notFound('Program', body.programId);
      const request = await manager.getRepository(AllocationRequestEntity).save(
        manager.getRepository(AllocationRequestEntity).create({
          projectId: body.projectId,
          programId: body.programId,
          status: 'draft',
          startsAt,
          endsAt,
          justification: body.justification,
          createdBy: userId,
          submittedAt: null,
          decidedAt: null,
          decidedBy: null,
          decisionNote: null,
          sector: body.sector ?? null,
        }),
      );
      const lines = await lineRows(manager, request.id, { startsAt, endsAt }, body.lines);
      await manager.getRepository(AllocationRequestLineEntity).insert(lines);
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.created',
        subjectType: AUDIT_SUBJECT,
        subjectId: request.id,
        before: null,
        after: {
          status: 'draft',
          projectId: body.projectId,
          programId: body.programId,
          ...(body.sector === undefined ? {} : { sector: body.sector }),
          lines: lines.map((l) => ({
            gpuModel: l.gpuModel,
            gpuSeconds: l.gpuSeconds,
            maxConcurrentGpus: l.maxConcurrentGpus,
            ...(l.kind === 'reserved'
              ? { kind: l.kind, servers: l.servers, startsAt: l.startsAt, endsAt: l.endsAt }
              : {}),
          })),
        },
        requestId: context.requestId,
      });
      return request.id;
    });
    return this.get(context.principal, id);
  }

  async update(context: Context, id: string, body: UpdateRequestBody): Promise<RequestDetailView> {
    await this.dataSource.transaction(async (manager) => {
      const visible = await this.access.load(manager, context.principal, id, true);
      this.access.assertActsForProject(visible);
      const { request } = visible;
      if (request.status !== 'draft') {
        throw conflict('REQUEST_NOT_DRAFT', `Only drafts can be edited; this request is ${request.status}.`, {
          status: request.status,
        });
      }
      const lineRepo = manager.getRepository(AllocationRequestLineEntity);
      const beforeLines = await lineRepo.find({ where: { requestId: id }, order: { lineNo: 'ASC' } });
      const before = {
        ...snapshot(request, beforeLines),
        programId: request.programId,
        startsAt: request.startsAt,
        endsAt: request.endsAt,
        sector: request.sector,
      };
      if (body.programId !== undefined && body.programId !== request.programId) {
        if (!(await this.programs.programExists(manager, body.programId)))
          throw notFound('Program', body.programId);
        request.programId = body.programId;
      }
      if (body.startsAt !== undefined) request.startsAt = toInstant(body.startsAt);
      if (body.endsAt !== undefined) request.endsAt = toInstant(body.endsAt);
      assertWindow(request.startsAt, request.endsAt);
      if (body.justification !== undefined) request.justification = body.justification;
      if (body.sector !== undefined) request.sector = body.sector;
      await manager.getRepository(AllocationRequestEntity).update(
        { id },
        {
          programId: request.programId,
          startsAt: request.startsAt,
          endsAt: request.endsAt,
          justification: request.justification,
          sector: request.sector,
        },
      );
      const window = { startsAt: request.startsAt, endsAt: request.endsAt };
      let afterLines = beforeLines;
      if (body.lines !== undefined) {
        await lineRepo.delete({ requestId: id });
        await lineRepo.insert(await lineRows(manager, id, window, body.lines));
        afterLines = await lineRepo.find({ where: { requestId: id }, order: { lineNo: 'ASC' } });
      } else if (body.startsAt !== undefined || body.endsAt !== undefined) {
        // Reserved lines are sized by their window: a new request window resizes the lines that follow it.
        afterLines = beforeLines.map((line) => ({ ...line }));
        for (const line of await refreshReservedLines(manager, window, afterLines)) {
          await lineRepo.update(
            { id: line.id },
            { gpuSeconds: line.gpuSeconds, maxConcurrentGpus: line.maxConcurrentGpus },
          );
        }
      }
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.updated',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before,
        after: {
          ...snapshot(request, afterLines),
          programId: request.programId,
          startsAt: request.startsAt,
          endsAt: request.endsAt,
          sector: request.sector,
        },
        requestId: context.requestId,
      });
    });
    return this.get(context.principal, id);
  }

  /** Draft → submitted when every eligibility rule holds; otherwise 422 listing each failed rule, still a draft. */
  async submit(context: Context, id: string, now: Date = new Date()): Promise<RequestDetailView> {
    await this.dataSource.transaction(async (manager) => {
      const visible = await this.access.load(manager, context.principal, id, true);
      this.access.assertActsForProject(visible);
      const { request } = visible;
      const from = stateOf(request);
      const to = transition(from, 'submit');
      const lines = await manager
        .getRepository(AllocationRequestLineEntity)
        .find({ where: { requestId: id }, order: { lineNo: 'ASC' } });
      const violations = checkEligibility({
        program: await this.programs.loadRules(manager, request.programId),
        organizationType: await this.organizationTypeOf(manager, request.projectId),
        window: { startsAt: request.startsAt, endsAt: request.endsAt },
        lines: lines.map(domainLine),
        budgetLeftGpuSeconds: await this.programs.budgetLeft(manager, request.programId),
        now,
      });
      if (violations.length > 0) {
        throw ruleViolated(
          'ELIGIBILITY_FAILED',
          `The request breaks ${violations.length} rule${violations.length === 1 ? '' : 's'} of the program and stays a draft: ${violations.map((v) => v.message).join(' ')}`,
          violations,
        );
      }
      await manager.getRepository(AllocationRequestEntity).update({ id }, { status: to, submittedAt: now });
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.submitted',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to },
        requestId: context.requestId,
      });
    });
    return this.get(context.principal, id);
  }

  async withdraw(context: Context, id: string): Promise<RequestDetailView> {
    await this.dataSource.transaction(async (manager) => {
      const visible = await this.access.load(manager, context.principal, id, true);
      this.access.assertActsForProject(visible);
      const from = stateOf(visible.request);
      const to = transition(from, 'withdraw');
      await manager.getRepository(AllocationRequestEntity).update({ id }, { status: to });
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.withdrawn',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to },
        requestId: context.requestId,
      });
    });
    return this.get(context.principal, id);
  }

  /**
   * One transaction: lock the request, check the transition, re-check the program budget under the
   * program's lock, record the granted amounts and the decision, write the grant outbox row and the audit
   * event. The grant job is enqueued after commit; if that fails, the scheduler's reconciler finds the
   * pending grant intent in PostgreSQL, so the answer is still 200.
   */
  async approve(context: Context, id: string, body: ApproveRequestBody): Promise<RequestDetailView> {
    const deciderId = userIdOf(context.principal);
    await this.dataSource.transaction(async (manager) => {
      const { request } = await this.access.load(manager, context.principal, id, true);
      const from = stateOf(request);
      // The state decides first: a second approval is a 409 whatever grant it carries.
      transition(from, 'approve');
      const lineRepo = manager.getRepository(AllocationRequestLineEntity);
      const lines = await lineRepo.find({ where: { requestId: id }, order: { lineNo: 'ASC' } });
      const grants = body.lines === undefined ? undefined : grantedLines(lines, body.lines);
      const decision = decideApproval(lines.map(domainLine), grants?.lines);
      const to = transition(from, decision.outcome === 'approved' ? 'approve' : 'partially_approve');

      await this.programs.lockProgram(manager, request.programId);
      const left = await this.programs.budgetLeft(manager, request.programId);
      const overBudget = this.budgetViolations(decision.lines, left);
      if (overBudget.length > 0) {
        throw ruleViolated(
          'EXCEEDS_PROGRAM_BUDGET',
          `The grant is more than the program has left: ${overBudget.map((v) => v.message).join(' ')}`,
          overBudget,
        );
      }

      const decidedAt = new Date();
      for (const approved of decision.lines) {
        const asked = lines.find((line) => line.gpuModel === approved.gpuModel);
        const grantedServers =
          asked?.kind !== 'reserved'
            ? null
            : approved.status === 'refused'
              ? 0
              : (grants?.servers.get(approved.gpuModel) ?? asked.servers);
        await lineRepo.update(
          { requestId: id, gpuModel: approved.gpuModel },
          {
            grantedGpuSeconds: approved.grantedGpuSeconds,
            grantedMaxConcurrentGpus: approved.grantedMaxConcurrentGpus,
            grantedServers,
          },
        );
      }
      await manager.getRepository(AllocationRequestEntity).update(
        { id },
        {
          status: to,
          decidedAt,
          decidedBy: deciderId,
          decisionNote: body.note ?? null,
          ...(body.sector === undefined ? {} : { sector: body.sector }),
        },
      );
      await manager
        .getRepository(GrantIntentEntity)
        .insert({ requestId: id, status: 'pending', attempts: 0 });
      await this.audit.record(manager, {
        principal: context.principal,
        action: `request.${to}`,
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: {
          status: to,
          note: body.note ?? null,
          ...(body.sector === undefined ? {} : { sector: body.sector }),
          lines: decision.lines.map((line) => ({
            gpuModel: line.gpuModel,
            status: line.status,
            grantedGpuSeconds: line.grantedGpuSeconds,
            grantedMaxConcurrentGpus: line.grantedMaxConcurrentGpus,
            ...(line.kind === 'reserved'
              ? {
                  grantedServers:
                    line.status === 'refused'
                      ? 0
                      : (grants?.servers.get(line.gpuModel) ??
                        lines.find((asked) => asked.gpuModel === line.gpuModel)?.servers),
                }
              : {}),
          })),
        },
        requestId: context.requestId,
      });
    });
    await this.enqueueGrant(id);
    return this.get(context.principal, id);
  }

  async reject(context: Context, id: string, body: RejectRequestBody): Promise<RequestDetailView> {
    const deciderId = userIdOf(context.principal);
    await this.dataSource.transaction(async (manager) => {
      const { request } = await this.access.load(manager, context.principal, id, true);
      const from = stateOf(request);
      const to = transition(from, 'reject');
      await manager
        .getRepository(AllocationRequestEntity)
        .update(
          { id },
          { status: to, decidedAt: new Date(), decidedBy: deciderId, decisionNote: body.reason },
        );
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'request.rejected',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to, reason: body.reason },
        requestId: context.requestId,
      });
    });
    return this.get(context.principal, id);
  }

  async get(principal: Principal, id: string): Promise<RequestDetailView> {
    return detailView(await this.queries.get(principal, id));
  }

  private async organizationTypeOf(manager: EntityManager, projectId: string) {
    const project = await manager.getRepository(ProjectEntity).findOneOrFail({ where: { id: projectId } });
    const organization = await manager
      .getRepository(OrganizationEntity)
      .findOneOrFail({ where: { id: project.organizationId } });
    if (!isOrganizationType(organization.type)) {
      throw new Error(`organization ${organization.id} has unknown type ${organization.type}`);
    }
    return organization.type;
  }

  private budgetViolations(
    lines: readonly ApprovedLine[],
    left: Readonly<Record<string, bigint>>,
  ): RuleViolation[] {
    return lines.flatMap((line, index): RuleViolation[] => {
      const available = left[line.gpuModel] ?? 0n;
      if (line.grantedGpuSeconds <= available) return [];
      return [
        {
          rule: 'EXCEEDS_PROGRAM_BUDGET',
          field: `lines[${index}].gpuHours`,
          message: `Granting ${formatGpuHoursForPeople(line.grantedGpuSeconds)} GPU-hours of ${line.gpuModel} exceeds the ${formatGpuHoursForPeople(available > 0n ? available : 0n)} GPU-hours the program has left.`,
        },
      ];
    });
  }

  private async enqueueGrant(requestId: string): Promise<void> {
    try {
      await this.jobs.enqueue({ name: 'grant.allocation', data: { requestId } });
      await this.dataSource
        .getRepository(GrantIntentEntity)
        .update({ requestId, status: 'pending' }, { enqueuedAt: new Date() });
    } catch (error: unknown) {
      // The decision is committed; the reconciler re-enqueues pending grant intents from PostgreSQL.
      this.logger.warn(
        { requestId, err: error instanceof Error ? { message: error.message, stack: error.stack } : error },
        'grant.allocation enqueue failed; the reconciler will retry from the grant intent',
      );
    }
  }
}
