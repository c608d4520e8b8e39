import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { performance } from 'node:perf_hooks';
import { DataSource, type EntityManager } from 'typeorm';
import {
  ceilSeconds,
  conflict,
  DomainError,
  floorSeconds,
  instantOfSeconds,
  invalid,
  isOrganizationType,
  notFound,
  planWhatIf,
  requestSector,
  ruleViolated,
  type RequestOutcome,
  type ReservationRequest,
  type UtilizationCell,
} from '#domain';
import {
  loadPlanningInputs,
  loadPlanningQueue,
  queuedLineRequest,
  releaseReservedServers,
  reservationStandings,
  waitlistEntries,
} from '#persistence';
import { JobProducer, type JobItem } from '#queues';
import { actorOf, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { ReleaseRequest, WaitlistQuery, WhatIfRequest } from './dto/planning.request.js';
import type { WaitlistEntryResponse, WhatIfLine, WhatIfResponse } from './dto/planning.response.js';
import { reservationStandingView, type ReservationStandingView } from './dto/reservation.response.js';

const PENDING_STATES = ['submitted', 'under_review'];
/** A release may name an instant this far back (clock skew between an admin's machine and ours). */
const RELEASE_SKEW_MS = 60_000;

interface CandidateRow {
  id: string;
  status: string;
  program_id: string;
  project_id: string;
  starts_at: Date;
  ends_at: Date;
  sector: string | null;
  organization_type: string;
  program_ends_at: Date;
}

interface ReservedLineRow {
  id: string;
  request_id: string;
  gpu_model: string;
  servers: number;
  starts_at: Date | null;
  ends_at: Date | null;
  same_interconnect_domain: boolean;
}

function encodeWaitlistCursor(ordinal: number): string {
  return Buffer.from(`waitlist|${ordinal}`, 'utf8').toString('base64url');
}

function decodeWaitlistCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^waitlist\|(\d{1,12})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1]) {
    throw new DomainError(
      'invalid',
      'INVALID_CURSOR',
      'The cursor is not one this API issued; start again without it.',
    );
  }
  return Number(match[1]);
}

function figures(cell: UtilizationCell | undefined) {
  return {
    reservedGpuSeconds: (cell?.reservedGpuSeconds ?? 0n).toString(),
    capacityGpuSeconds: (cell?.capacityGpuSeconds ?? 0n).toString(),
    ratio: cell?.ratio ?? 0,
  };
}

/**
 * Planning for admins: what-if (the planner on a copy of the calendar, nothing written), the
 * waitlist, and early releases of reserved servers (which re-plan the waitlist).
 */
@Injectable()
export class PlanningService {
  private readonly logger = new Logger(PlanningService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: JobProducer,
  ) {}

  /**
   * Plans pending requests' reserved lines after the approved queue (pending and waitlisted
   * reserved allocations, in approval order) on the calendar as it is now. Runs in a READ ONLY
   * transaction: whatever happens, nothing is written.
   */
  async whatIf(body: WhatIfRequest, now: Date = new Date()): Promise<WhatIfResponse> {
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      await manager.query('SET TRANSACTION READ ONLY');
      const candidates = await this.candidates(manager, body);
      const lines = await manager.query<ReservedLineRow[]>(
        `SELECT id, request_id, gpu_model, servers, starts_at, ends_at, same_interconnect_domain
           FROM allocation_request_lines
          WHERE request_id = ANY($1) AND kind = 'reserved' AND servers IS NOT NULL`,
        [candidates.map((candidate) => candidate.id)],
      );
      const order = new Map(candidates.map((candidate, index) => [candidate.id, index]));
      lines.sort(
        (a, b) =>
          (order.get(a.request_id) ?? 0) - (order.get(b.request_id) ?? 0) ||
          a.gpu_model.localeCompare(b.gpu_model),
      );
      const requestOf = new Map(candidates.map((candidate) => [candidate.id, candidate]));
      const models = [...new Set(lines.map((line) => line.gpu_model))].sort();
      const queue = (await loadPlanningQueue(manager, models)).filter(
        (line) => line.allocationStatus === 'active',
      );
      const queueRequests = queue.map((line, index) => queuedLineRequest(line, index));
      const whatIfRequests = lines.map((line, index): ReservationRequest => {
        const request = requestOf.get(line.request_id) as CandidateRow;
        const startsAt = line.starts_at ?? request.starts_at;
        const endsAt = line.ends_at ?? request.ends_at;
        const requestedStart = floorSeconds(startsAt);
        return {
          lineId: line.id,
          programId: request.program_id,
          sector: isOrganizationType(request.organization_type)
            ? requestSector(request.sector, request.organization_type)
            : 'national',
          gpuModel: line.gpu_model,
          servers: line.servers,
          requestedStart,
          durationSeconds: Math.max(1, ceilSeconds(endsAt) - requestedStart),
          latestEnd: floorSeconds(request.program_ends_at),
          sameInterconnectDomain: line.same_interconnect_domain,
          orderKey: queueRequests.length + index,
        };
      });
      const { input, calendar } = await loadPlanningInputs(
        manager,
        models,
        [...queueRequests, ...whatIfRequests],
        now,
      );
      const started = performance.now();
      const plan = planWhatIf(input);
      const planningMs = Math.round(performance.now() - started);

      const outcomeOf = new Map<string, RequestOutcome>(
        plan.outcomes.map((outcome) => [outcome.lineId, outcome]),
      );
      let through = input.plannableFrom ?? input.months[0]?.start ?? 0;
      const answers: WhatIfLine[] = lines.map((line, index) => {
        const request = requestOf.get(line.request_id) as CandidateRow;
        const asked = whatIfRequests[index];
        const outcome = outcomeOf.get(line.id) as RequestOutcome;
        const base = {
          requestId: line.request_id,
          requestLineId: line.id,
          projectId: request.project_id,
          gpuModel: line.gpu_model,
          servers: line.servers,
          sector: asked.sector,
          sameInterconnectDomain: line.same_interconnect_domain,
          requestedStartsAt: instantOfSeconds(asked.requestedStart).toISOString(),
          requestedEndsAt: instantOfSeconds(
            asked.requestedStart + (asked.durationSeconds ?? 0),
          ).toISOString(),
        };
        through = Math.max(through, asked.requestedStart + (asked.durationSeconds ?? 0));
        if (outcome.status === 'placed') {
          through = Math.max(through, outcome.end);
          return {
            ...base,
            fits: true,
            clusterId: outcome.clusterId,
            clusterName: calendar.clusterNames.get(outcome.clusterId) ?? null,
            nodeNames: outcome.nodeIds.map((id) => calendar.nodeNames.get(id) ?? id),
            startsAt: instantOfSeconds(outcome.start).toISOString(),
            endsAt: instantOfSeconds(outcome.end).toISOString(),
            delaySeconds: outcome.delaySeconds,
            earliestFeasibleStart: null,
            code: null,
            reason: null,
          };
        }
        return {
          ...base,
          fits: false,
          clusterId: null,
          clusterName: null,
          nodeNames: [],
          startsAt: null,
          endsAt: null,
          delaySeconds: null,
          earliestFeasibleStart:
            outcome.earliestFeasibleStart === null
              ? null
              : instantOfSeconds(outcome.earliestFeasibleStart).toISOString(),
          code: outcome.code,
          reason: outcome.reason,
        };
      });

      const queueIds = new Set(queue.map((line) => line.allocationId));
      const queueOutcomes = plan.outcomes.filter((outcome) => queueIds.has(outcome.lineId));
      const before = new Map(plan.utilizationBefore.map((cell) => [`${cell.gpuModel}|${cell.month}`, cell]));
      const shownMonths = new Set(
        input.months.filter((month) => month.start < through).map((month) => month.key),
      );
      const utilization = plan.utilization
        .filter((cell) => shownMonths.has(cell.month))
        .map((cell) => ({
          gpuModel: cell.gpuModel,
          month: cell.month,
          before: figures(before.get(`${cell.gpuModel}|${cell.month}`)),
          after: figures(cell),
        }));
      const horizonEnd = input.months[input.months.length - 1]?.end ?? through;
      return {
        lines: answers,
        requests: candidates.map((candidate) => {
          const own = answers.filter((answer) => answer.requestId === candidate.id);
          return {
            requestId: candidate.id,
            status: candidate.status,
            reservedLines: own.length,
            fits: own.every((answer) => answer.fits),
          };
        }),
        queueAhead: {
          lines: queue.length,
          placed: queueOutcomes.filter((outcome) => outcome.status === 'placed').length,
          waitlisted: queueOutcomes.filter((outcome) => outcome.status === 'waitlisted').length,
        },
        utilization,
        horizon: {
          from: instantOfSeconds(input.months[0]?.start ?? 0).toISOString(),
          to: instantOfSeconds(horizonEnd).toISOString(),
        },
        planningMs,
      };
    });
  }

  /** Waitlisted reserved allocations, per GPU model in approval order. */
  async waitlist(query: WaitlistQuery): Promise<Page<WaitlistEntryResponse>> {
    const rows = await waitlistEntries(
      this.dataSource.manager,
      { programId: query.programId, gpuModel: query.gpuModel },
      { limit: query.limit, afterPosition: decodeWaitlistCursor(query.cursor) },
    );
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map((row) => ({
        allocationId: row.allocationId,
        requestId: row.requestId,
        projectId: row.projectId,
        projectTitle: row.projectTitle,
        programId: row.programId,
        gpuModel: row.gpuModel,
        servers: row.servers,
        sameInterconnectDomain: row.sameInterconnectDomain,
        sector: row.sector,
        requestedStartsAt: row.startsAt.toISOString(),
        requestedEndsAt: row.endsAt.toISOString(),
        earliestFeasibleStart: row.earliestFeasibleStart?.toISOString() ?? null,
        code: row.code,
        reason: row.reason,
        attempts: row.attempts,
        approvedAt: row.approvedAt?.toISOString() ?? null,
        updatedAt: row.updatedAt.toISOString(),
        position: row.position,
      })),
      nextCursor: rows.length > query.limit && last ? encodeWaitlistCursor(last.ordinal) : null,
    };
  }

  /**
   * Early release: the named servers (all when none are named) stop being held at `at`; the model's
   * waitlist is re-planned and the shared queue's cycle runs after commit.
   */
  async release(
    context: { principal: Principal; requestId: string | null },
    allocationId: string,
    body: ReleaseRequest,
    now: Date = new Date(),
  ): Promise<ReservationStandingView> {
    const at = body.at === undefined ? now : new Date(body.at);
    if (at.getTime() < now.getTime() - RELEASE_SKEW_MS) {
      throw ruleViolated(
        'RELEASE_IN_THE_PAST',
        `Servers cannot be released in the past (${at.toISOString()}): what ran on them stays theirs. Release from now on.`,
      );
    }
    if (at.getTime() % 1000 !== 0 && body.at !== undefined) {
      throw invalid('RELEASE_TIME_INVALID', 'Release on a whole second, e.g. 2026-05-01T00:00:00Z.');
    }
    const releaseAt = new Date(Math.ceil(at.getTime() / 1000) * 1000);
    const { actorId, actorKind } = actorOf(context.principal);
    const outcome = await this.dataSource.transaction(async (manager) => {
      const exists = await manager.query<{ id: string }[]>('SELECT id FROM allocations WHERE id = $1', [
        allocationId,
      ]);
      if (exists.length === 0) throw notFound('Allocation', allocationId);
      return releaseReservedServers(manager, allocationId, body.nodeIds ?? null, releaseAt, {
        actorId,
        actorKind,
        requestId: context.requestId,
        reason: body.reason,
      });
    });
    await this.afterCommit([
      { name: 'planning.replan', data: { gpuModel: outcome.gpuModel } },
      { name: 'schedule.cycle', data: { gpuModel: outcome.gpuModel } },
    ]);
    const standing = (await reservationStandings(this.dataSource.manager, [allocationId])).get(allocationId);
    if (!standing) throw conflict('NOT_RESERVED', `Allocation ${allocationId} has no reservation.`);
    return reservationStandingView(standing);
  }

  private async candidates(manager: EntityManager, body: WhatIfRequest): Promise<CandidateRow[]> {
    const select = `SELECT r.id, r.status, r.program_id, r.project_id, r.starts_at, r.ends_at, r.sector,
                           o.type AS organization_type, pr.ends_at AS program_ends_at
                      FROM allocation_requests r
                      JOIN projects p ON p.id = r.project_id
                      JOIN organizations o ON o.id = p.organization_id
                      JOIN programs pr ON pr.id = r.program_id`;
    if (body.programId !== undefined) {
      const program = await manager.query<{ id: string }[]>('SELECT id FROM programs WHERE id = $1', [
        body.programId,
      ]);
      if (program.length === 0) throw notFound('Program', body.programId);
    }
    if (body.requestIds === undefined) {
      return manager.query<CandidateRow[]>(
        `${select} WHERE r.program_id = $1 AND r.status = ANY($2)
          ORDER BY r.submitted_at NULLS LAST, r.created_at, r.id`,
        [body.programId, PENDING_STATES],
      );
    }
    const ids = [...new Set(body.requestIds)];
    const rows = await manager.query<CandidateRow[]>(`${select} WHERE r.id = ANY($1)`, [ids]);
    const byId = new Map(rows.map((row) => [row.id, row]));
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length > 0) throw notFound('Allocation request', missing.join(', '));
    const notPending = rows.filter((row) => !PENDING_STATES.includes(row.status));
    if (notPending.length > 0) {
      throw conflict(
        'REQUEST_NOT_PENDING',
        `What-if plans pending requests (submitted or under review); ${notPending
          .map((row) => `${row.id} is ${row.status}`)
          .join(', ')}. Leave those out.`,
        { requests: notPending.map((row) => ({ id: row.id, status: row.status })) },
      );
    }
    if (body.programId !== undefined) {
      const elsewhere = rows.filter((row) => row.program_id !== body.programId);
      if (elsewhere.length > 0) {
        throw ruleViolated(
          'REQUEST_NOT_IN_PROGRAM',
          `${elsewhere.map((row) => row.id).join(', ')} belong${elsewhere.length === 1 ? 's' : ''} to another program; leave programId out or those requests.`,
        );
      }
    }
    return ids.map((id) => byId.get(id) as CandidateRow);
  }

  private async afterCommit(jobs: JobItem[]): Promise<void> {
    try {
      await this.jobs.enqueueMany(jobs);
    } catch (error: unknown) {
      // Committed; the scheduler's periodic waitlist re-plan and cycle tick pick the change up.
      this.logger.warn(
        { jobs: jobs.map((job) => job.name), err: error instanceof Error ? error.message : String(error) },
        'planning jobs enqueue failed; the periodic sweeps recover',
      );
    }
  }
}
