import { Injectable, Logger } from '@nestjs/common';
import {
  assertMayTake,
  decideApproval,
  formatGpuHoursForPeople,
  gpuHoursToSeconds,
  invalid,
  reservedGrantProblems,
  ruleViolated,
  summarizeViolations,
  transition,
  type ApprovedLine,
  type GrantedLine,
  type RuleViolation,
} from '#domain';
import {
  AllocationRequestRepository,
  AuditRepository,
  GrantRepository,
  TransactionRunner,
  type AllocationRequestLineEntity,
} from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { ProgramReader } from '../directory/program-reader.js';
import { domainLine } from './draft-request.use-cases.js';
import { AUDIT_SUBJECT, RequestVisibility, stateOf, userIdOf } from './request-visibility.js';
import type { RequestActor } from './review-request.use-case.js';

/** A granted line: a budget line as `{gpuModel, gpuHours, maxConcurrentGpus}`, a reserved line as `{gpuModel, servers}`. */
export interface GrantLineInput {
  gpuModel: string;
  gpuHours?: number | undefined;
  maxConcurrentGpus?: number | undefined;
  servers?: number | undefined;
}

export interface ApproveInput {
  /** Without lines every line is granted as asked; a line left out is refused. */
  lines?: GrantLineInput[] | undefined;
  note?: string | undefined;
  sector?: string | undefined;
}

/** The sweep that finds a decided request whose grant job Redis lost. */
export const GRANT_RECOVERY = 'the grant reconciler (pending grant intents)';

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

function budgetViolations(
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

/**
 * An admin approves a request, possibly granting less line by line. One transaction: lock the
 * request, check the transition, re-check the program budget under the program's lock, record the
 * granted amounts and the decision, write the grant outbox row and the audit event. The grant job
 * is enqueued after commit; if that fails, the scheduler's reconciler finds the pending grant
 * intent in PostgreSQL, so the answer is still a success.
 */
@Injectable()
export class ApproveRequestUseCase {
  private readonly logger = new Logger(ApproveRequestUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly requests: AllocationRequestRepository,
    private readonly programs: ProgramReader,
    private readonly grantIntents: GrantRepository,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(actor: RequestActor, id: string, body: ApproveInput): Promise<void> {
    const deciderId = userIdOf(actor.principal);
    await this.transactions.run(async (tx) => {
      const { request, viewer } = await this.visibility.load(tx, actor.principal, id, true);
      assertMayTake(viewer, 'approve');
      const from = stateOf(request);
      // The state decides first: a second approval is a 409 whatever grant it carries.
      transition(from, 'approve');
      const lines = await this.requests.linesOf(tx, id);
      const grants = body.lines === undefined ? undefined : grantedLines(lines, body.lines);
      const decision = decideApproval(lines.map(domainLine), grants?.lines);
      const to = transition(from, decision.outcome === 'approved' ? 'approve' : 'partially_approve');

      await this.programs.lockProgram(tx, request.programId);
      const left = await this.programs.budgetLeft(tx, request.programId);
      const overBudget = budgetViolations(decision.lines, left);
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
        await this.requests.recordLineGrant(tx, id, {
          gpuModel: approved.gpuModel,
          grantedGpuSeconds: approved.grantedGpuSeconds,
          grantedMaxConcurrentGpus: approved.grantedMaxConcurrentGpus,
          grantedServers,
        });
      }
      await this.requests.recordDecision(tx, id, {
        status: to,
        decidedAt,
        decidedBy: deciderId,
        decisionNote: body.note ?? null,
        ...(body.sector === undefined ? {} : { sector: body.sector }),
      });
      await this.requests.insertGrantIntent(tx, id);
      await this.audit.record(tx, {
        principal: actor.principal,
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
        requestId: actor.requestId,
      });
    });
    const sent = await enqueueAfterCommit(
      this.producer,
      { name: 'grant.allocation', data: { requestId: id } },
      { logger: this.logger, recoveredBy: GRANT_RECOVERY },
    );
    if (sent) await this.markEnqueued(id);
  }

  /** Only tells the reconciler the job went out; the decision is committed whatever happens here. */
  private async markEnqueued(requestId: string): Promise<void> {
    try {
      await this.grantIntents.markEnqueued([requestId]);
    } catch (error: unknown) {
      this.logger.warn(
        { requestId, err: error instanceof Error ? { message: error.message, stack: error.stack } : error },
        'marking the grant intent enqueued failed; the reconciler may enqueue it again (the grant job is idempotent)',
      );
    }
  }
}

/** An admin rejects a request before it is decided; the reason is required and kept. */
@Injectable()
export class RejectRequestUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly visibility: RequestVisibility,
    private readonly requests: AllocationRequestRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(actor: RequestActor, id: string, body: { reason: string }): Promise<void> {
    const deciderId = userIdOf(actor.principal);
    if (body.reason.trim().length === 0) {
      throw invalid('VALIDATION_FAILED', 'The request is invalid — reason: is required', [
        { field: 'reason', message: 'is required' },
      ]);
    }
    await this.transactions.run(async (tx) => {
      const { request, viewer } = await this.visibility.load(tx, actor.principal, id, true);
      assertMayTake(viewer, 'reject');
      const from = stateOf(request);
      const to = transition(from, 'reject');
      await this.requests.recordDecision(tx, id, {
        status: to,
        decidedAt: new Date(),
        decidedBy: deciderId,
        decisionNote: body.reason,
      });
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'request.rejected',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { status: from },
        after: { status: to, reason: body.reason },
        requestId: actor.requestId,
      });
    });
  }
}
