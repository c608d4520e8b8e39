import { Injectable } from '@nestjs/common';
import {
  checkEligibility,
  conflict,
  invalid,
  isOrganizationType,
  notFound,
  ruleViolated,
  transition,
  type RequestLine,
} from '#domain';
import {
  AllocationRequestRepository,
  AuditRepository,
  TransactionRunner,
  type AllocationRequestEntity,
  type AllocationRequestLineEntity,
  type Tx,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { ProgramReader } from '../directory/program-reader.js';
import { lineRows, refreshReservedLines, type PoolShapes, type RequestLineInput } from './request-lines.js';
import { AUDIT_SUBJECT, RequestVisibility, stateOf, userIdOf } from './request-visibility.js';
import type { RequestActor } from './review-request.use-case.js';

export interface CreateRequestInput {
  projectId: string;
  programId: string;
  lines: RequestLineInput[];
  startsAt: string;
  endsAt: string;
  justification: string;
  sector?: string | undefined;
}

/** Any subset of a draft's fields; `lines` replaces every line; `sector: null` derives it again. */
export interface UpdateDraftInput {
  programId?: string | undefined;
  lines?: RequestLineInput[] | undefined;
  startsAt?: string | undefined;
  endsAt?: string | undefined;
  justification?: string | undefined;
  sector?: string | null | undefined;
}

function assertWindow(startsAt: Date, endsAt: Date): void {
  if (endsAt.getTime() <= startsAt.getTime()) {
    throw invalid('VALIDATION_FAILED', 'The request is invalid — endsAt: must be after startsAt', [
      { field: 'endsAt', message: 'must be after startsAt' },
    ]);
  }
}

export function domainLine(line: AllocationRequestLineEntity): RequestLine {
  return {
    gpuModel: line.gpuModel,
    kind: line.kind === 'reserved' ? 'reserved' : 'budget',
    gpuSeconds: line.gpuSeconds,
    maxConcurrentGpus: line.maxConcurrentGpus,
  };
}

/** What an audit event keeps of a request: enough to read the change without the rows. */
export function snapshot(request: AllocationRequestEntity, lines?: readonly AllocationRequestLineEntity[]) {
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

function shapesWithin(requests: AllocationRequestRepository, tx: Tx): PoolShapes {
  return (gpuModels) => requests.poolShapes(tx, gpuModels);
}

/** A member of the project drafts a request to a program; returns its id. */
@Injectable()
export class CreateRequestUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly requests: AllocationRequestRepository,
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramReader,
    private readonly audit: AuditRepository,
  ) {}

  async execute(actor: RequestActor, input: CreateRequestInput): Promise<string> {
    const userId = userIdOf(actor.principal);
    const startsAt = new Date(input.startsAt);
    const endsAt = new Date(input.endsAt);
    assertWindow(startsAt, endsAt);
    return this.transactions.run(async (tx) => {
      await this.projects.assertMember(actor.principal, input.projectId, tx);
      if (!(await this.programs.programExists(tx, input.programId)))
        throw notFound('Program', input.programId);
      const id = await this.requests.insertDraft(tx, {
        projectId: input.projectId,
        programId: input.programId,
        startsAt,
        endsAt,
        justification: input.justification,
        createdBy: userId,
        sector: input.sector ?? null,
      });
      const lines = await lineRows(shapesWithin(this.requests, tx), id, { startsAt, endsAt }, input.lines);
      await this.requests.insertLines(tx, lines);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'request.created',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: null,
        after: {
          status: 'draft',
          projectId: input.projectId,
          programId: input.programId,
          ...(input.sector === undefined ? {} : { sector: input.sector }),
          lines: lines.map((l) => ({
            gpuModel: l.gpuModel,
            gpuSeconds: l.gpuSeconds,
            maxConcurrentGpus: l.maxConcurrentGpus,
            ...(l.kind === 'reserved'
              ? { kind: l.kind, servers: l.servers, startsAt: l.startsAt, endsAt: l.endsAt }
              : {}),
          })),
        },
        requestId: actor.requestId,
      });
      return id;
    });
  }
}

/** Members edit a draft; a new window resizes the reserved lines that follow it. */
@Injectable()
export class UpdateDraftUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly requests: AllocationRequestRepository,
    private readonly programs: ProgramReader,
    private readonly audit: AuditRepository,
  ) {}

  async execute(actor: RequestActor, id: string, input: UpdateDraftInput): Promise<void> {
    await this.transactions.run(async (tx) => {
      const visible = await this.visibility.load(tx, actor.principal, id, true);
      this.visibility.assertActsForProject(visible);
      const { request } = visible;
      if (request.status !== 'draft') {
        throw conflict('REQUEST_NOT_DRAFT', `Only drafts can be edited; this request is ${request.status}.`, {
          status: request.status,
        });
      }
      const beforeLines = await this.requests.linesOf(tx, id);
      const before = {
        ...snapshot(request, beforeLines),
        programId: request.programId,
        startsAt: request.startsAt,
        endsAt: request.endsAt,
        sector: request.sector,
      };
      if (input.programId !== undefined && input.programId !== request.programId) {
        if (!(await this.programs.programExists(tx, input.programId)))
          throw notFound('Program', input.programId);
        request.programId = input.programId;
      }
      if (input.startsAt !== undefined) request.startsAt = new Date(input.startsAt);
      if (input.endsAt !== undefined) request.endsAt = new Date(input.endsAt);
      assertWindow(request.startsAt, request.endsAt);
      if (input.justification !== undefined) request.justification = input.justification;
      if (input.sector !== undefined) request.sector = input.sector;
      await this.requests.updateDraft(tx, id, {
        programId: request.programId,
        startsAt: request.startsAt,
        endsAt: request.endsAt,
        justification: request.justification,
        sector: request.sector,
      });
      const window = { startsAt: request.startsAt, endsAt: request.endsAt };
      const shapes = shapesWithin(this.requests, tx);
      let afterLines = beforeLines;
      if (input.lines !== undefined) {
        afterLines = await this.requests.replaceLines(
          tx,
          id,
          await lineRows(shapes, id, window, input.lines),
        );
      } else if (input.startsAt !== undefined || input.endsAt !== undefined) {
        // Reserved lines are sized by their window: a new request window resizes the lines that follow it.
        afterLines = beforeLines.map((line) => ({ ...line }));
        for (const line of await refreshReservedLines(shapes, window, afterLines)) {
          await this.requests.updateLineAmounts(tx, line.id, {
            gpuSeconds: line.gpuSeconds,
            maxConcurrentGpus: line.maxConcurrentGpus,
          });
        }
      }
      await this.audit.record(tx, {
        principal: actor.principal,
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
        requestId: actor.requestId,
      });
    });
  }
}

/** Draft → submitted when every eligibility rule holds; otherwise 422 listing each failed rule, still a draft. */
@Injectable()
export class SubmitRequestUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly requests: AllocationRequestRepository,
    private readonly programs: ProgramReader,
    private readonly audit: AuditRepository,
  ) {}

  async execute(actor: RequestActor, id: string, now: Date = new Date()): Promise<void> {
    await this.transactions.run(async (tx) => {
      const visible = await this.visibility.load(tx, actor.principal, id, true);
      this.visibility.assertActsForProject(visible);
      const { request } = visible;
      const from = stateOf(request);
      const to = transition(from, 'submit');
      const lines = await this.requests.linesOf(tx, id);
      const violations = checkEligibility({
        program: await this.programs.loadRules(tx, request.programId),
        organizationType: await this.organizationTypeOf(tx, request.projectId),
        window: { startsAt: request.startsAt, endsAt: request.endsAt },
        lines: lines.map(domainLine),
        budgetLeftGpuSeconds: await this.programs.budgetLeft(tx, request.programId),
        now,
      });
      if (violations.length > 0) {
        throw ruleViolated(
          'ELIGIBILITY_FAILED',
          `The request breaks ${violations.length} rule${violations.length === 1 ? '' : 's'} of the program and stays a draft: ${violations.map((v) => v.message).join(' ')}`,
          violations,
        );
      }
      await this.requests.markSubmitted(tx, id, to, now);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'request.submitted',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to },
        requestId: actor.requestId,
      });
    });
  }

  private async organizationTypeOf(tx: Tx, projectId: string) {
    const organization = await this.requests.organizationTypeOf(tx, projectId);
    if (!isOrganizationType(organization.type)) {
      throw new Error(`organization ${organization.organizationId} has unknown type ${organization.type}`);
    }
    return organization.type;
  }
}

/** Members withdraw a request before it is decided. */
@Injectable()
export class WithdrawRequestUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly requests: AllocationRequestRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(actor: RequestActor, id: string): Promise<void> {
    await this.transactions.run(async (tx) => {
      const visible = await this.visibility.load(tx, actor.principal, id, true);
      this.visibility.assertActsForProject(visible);
      const from = stateOf(visible.request);
      const to = transition(from, 'withdraw');
      await this.requests.setStatus(tx, id, to);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'request.withdrawn',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to },
        requestId: actor.requestId,
      });
    });
  }
}
