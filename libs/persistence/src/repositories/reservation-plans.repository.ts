import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  ceilSeconds,
  floorSeconds,
  isOrganizationType,
  planningHorizon,
  requestSector,
  type PlanningInput,
  type ReservationRequest,
  type Sector,
} from '#domain';
import { auditJson } from '../mappers/audit-json.js';
import type { Tx } from '../transaction.js';
import { markPartitionDirty } from './partition.repository.js';
import { loadCalendar, loadSectorTargets, type LoadedCalendar } from './reservation-calendar.repository.js';

/** Months of calendar after the last requested end: room to offer a waitlisted line a later start. */
export const PLANNING_EXTRA_MONTHS = 36;
/** New reservations start on a whole minute, at the earliest the minute after now. */
const PLANNING_GRANULARITY_SECONDS = 60;

/**
 * A reserved allocation waiting for the calendar (plan `pending` or `waitlisted`), with what the
 * planner needs: its servers, window, program and sector. Queue order is approval order.
 */
export interface QueuedReservedLine {
  allocationId: string;
  requestId: string;
  projectId: string;
  programId: string;
  gpuModel: string;
  servers: number;
  sameInterconnectDomain: boolean;
  /** The allocation's window: as requested, until the line is placed. */
  startsAt: Date;
  endsAt: Date;
  /** The latest acceptable end: the program window's end. */
  programEndsAt: Date;
  sector: Sector;
  planStatus: 'pending' | 'waitlisted';
  earliestFeasibleStart: Date | null;
  code: string | null;
  reason: string | null;
  attempts: number;
  allocationStatus: string;
  decidedAt: Date | null;
}

interface QueueRow {
  allocation_id: string;
  request_id: string;
  project_id: string;
  program_id: string;
  gpu_model: string;
  servers: number | null;
  max_concurrent_gpus: number;
  same_interconnect_domain: boolean;
  starts_at: Date;
  ends_at: Date;
  program_ends_at: Date;
  sector: string | null;
  organization_type: string;
  plan_status: 'pending' | 'waitlisted';
  earliest_feasible_start: Date | null;
  code: string | null;
  reason: string | null;
  attempts: number;
  allocation_status: string;
  decided_at: Date | null;
  gpus_per_node: number | null;
}

/**
 * Serializes planning runs of one GPU model across every scheduler process, for the rest of the
 * caller's transaction. Distinct from the scheduling cycle's partition lock: a plan and a cycle of
 * the same model may run at once (the cycle only reads the calendar).
 */
async function lockPlanningModel(manager: EntityManager, gpuModel: string): Promise<void> {
  // The wait behind other runs of the model has no time limit: a run that gave up (the connection's
  // statement_timeout, on a busy machine behind a long queue of runs) would drop its plan (issue 13
  // item 11). The run's own statements keep the limit.
  const [setting] = await manager.query<{ previous: string }[]>(
    "SELECT current_setting('statement_timeout') AS previous",
  );
  await manager.query("SELECT set_config('statement_timeout', '0', true)");
  await manager.query("SELECT pg_advisory_xact_lock(hashtext('gpupool:planning'), hashtext($1))", [gpuModel]);
  await manager.query("SELECT set_config('statement_timeout', $1, true)", [setting?.previous ?? '60s']);
}

/** The plan row of an allocation and its GPU model; null when the allocation has no plan. */
async function planStatusOf(
  manager: EntityManager,
  allocationId: string,
): Promise<{ status: string; gpuModel: string } | null> {
  const [row] = await manager.query<{ status: string; gpu_model: string }[]>(
    `SELECT p.status, a.gpu_model FROM reservation_plans p JOIN allocations a ON a.id = p.allocation_id
      WHERE p.allocation_id = $1`,
    [allocationId],
  );
  return row ? { status: row.status, gpuModel: row.gpu_model } : null;
}

/**
 * The model's planning queue in approval order (decision time, then allocation creation, then id):
 * every plan still `pending` or `waitlisted`. With `lock`, the plan rows are locked for the caller's
 * transaction.
 */
async function loadPlanningQueue(
  manager: EntityManager,
  gpuModels: readonly string[],
  options: { lock?: boolean; programId?: string } = {},
): Promise<QueuedReservedLine[]> {
  const rows = await manager.query<QueueRow[]>(
    `SELECT p.allocation_id, a.request_id, a.project_id, a.program_id, a.gpu_model, a.servers,
            a.max_concurrent_gpus, a.same_interconnect_domain, a.starts_at, a.ends_at,
            pr.ends_at AS program_ends_at, r.sector, o.type AS organization_type,
            p.status AS plan_status, p.earliest_feasible_start, p.code, p.reason, p.attempts,
            a.status AS allocation_status, r.decided_at,
            (SELECT max(np.gpus_per_node) FROM node_pools np WHERE np.gpu_model = a.gpu_model) AS gpus_per_node
       FROM reservation_plans p
       JOIN allocations a ON a.id = p.allocation_id
       JOIN allocation_requests r ON r.id = a.request_id
       JOIN programs pr ON pr.id = a.program_id
       JOIN projects pj ON pj.id = a.project_id
       JOIN organizations o ON o.id = pj.organization_id
      WHERE a.gpu_model = ANY($1) AND p.status IN ('pending', 'waitlisted')
        AND ($2::uuid IS NULL OR a.program_id = $2)
      ORDER BY r.decided_at NULLS LAST, a.created_at, a.id
      ${options.lock ? 'FOR UPDATE OF p' : ''}`,
    [gpuModels, options.programId ?? null],
  );
  return rows.map((row) => ({
    allocationId: row.allocation_id,
    requestId: row.request_id,
    projectId: row.project_id,
    programId: row.program_id,
    gpuModel: row.gpu_model,
    // A reserved allocation always records its servers; the fallback reads them off the GPU cap.
    servers:
      row.servers ?? Math.max(1, Math.floor(row.max_concurrent_gpus / Math.max(1, row.gpus_per_node ?? 8))),
    sameInterconnectDomain: row.same_interconnect_domain,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    programEndsAt: row.program_ends_at,
    sector: isOrganizationType(row.organization_type)
      ? requestSector(row.sector, row.organization_type)
      : 'national',
    planStatus: row.plan_status,
    earliestFeasibleStart: row.earliest_feasible_start,
    code: row.code,
    reason: row.reason,
    attempts: row.attempts,
    allocationStatus: row.allocation_status,
    decidedAt: row.decided_at,
  }));
}

/** A queued line as the planner's request; `orderKey` is its place in the queue. */
export function queuedLineRequest(line: QueuedReservedLine, orderKey: number): ReservationRequest {
  const requestedStart = floorSeconds(line.startsAt);
  return {
    lineId: line.allocationId,
    programId: line.programId,
    sector: line.sector,
    gpuModel: line.gpuModel,
    servers: line.servers,
    requestedStart,
    durationSeconds: Math.max(1, ceilSeconds(line.endsAt) - requestedStart),
    latestEnd: floorSeconds(line.programEndsAt),
    sameInterconnectDomain: line.sameInterconnectDomain,
    orderKey,
  };
}

export interface PlanningInputs {
  input: PlanningInput;
  calendar: LoadedCalendar;
  /** When new reservations may start: the minute after now. */
  plannableFrom: number;
}

/**
 * Everything one planning run needs, read in the caller's transaction: the planning horizon (Seoul
 * months from now through the last requested end, plus PLANNING_EXTRA_MONTHS), the calendar of the
 * models, and the programs' sector targets. `requests` are planned in orderKey order.
 */
async function loadPlanningInputs(
  manager: EntityManager,
  gpuModels: readonly string[],
  requests: readonly ReservationRequest[],
  now: Date,
): Promise<PlanningInputs> {
  const plannableFrom =
    Math.floor(floorSeconds(now) / PLANNING_GRANULARITY_SECONDS) * PLANNING_GRANULARITY_SECONDS +
    PLANNING_GRANULARITY_SECONDS;
  let through = plannableFrom;
  for (const request of requests) {
    const duration =
      request.durationSeconds ?? (request.requestedEnd ?? request.requestedStart) - request.requestedStart;
    through = Math.max(through, request.latestEnd ?? 0, request.requestedStart + duration);
  }
  const months = planningHorizon(plannableFrom, through, PLANNING_EXTRA_MONTHS);
  const horizonStart = months[0]?.start ?? plannableFrom;
  const horizonEnd = months[months.length - 1]?.end ?? plannableFrom + 1;
  const calendar = await loadCalendar(manager, gpuModels, {
    horizonStart,
    horizonEnd,
    unavailableFrom: floorSeconds(now),
  });
  const programIds = [
    ...requests.map((request) => request.programId),
    ...calendar.reservations.flatMap((reservation) => (reservation.programId ? [reservation.programId] : [])),
  ];
  const sectorTargets = await loadSectorTargets(manager, programIds);
  return {
    input: {
      nodes: calendar.nodes,
      reservations: calendar.reservations,
      months,
      plannableFrom,
      sectorTargets,
      requests,
    },
    calendar,
    plannableFrom,
  };
}

export interface PlacementRecord {
  allocationId: string;
  gpuModel: string;
  clusterId: string;
  nodeIds: readonly string[];
  start: number;
  end: number;
}

export interface WaitlistRecord {
  allocationId: string;
  earliestFeasibleStart: number | null;
  code: string;
  reason: string;
}

/**
 * Writes placements in the caller's transaction: a reservations row each, its nodes (the exclusion
 * constraint refuses a double-booked node and so the whole run), the allocation's window moved to
 * the planned one (same length, never earlier than asked), the plan `placed`, and an audit event.
 */
async function recordPlacements(
  manager: EntityManager,
  placements: readonly PlacementRecord[],
  jobId: string | null,
): Promise<void> {
  if (placements.length === 0) return;
  const inserted = await manager.query<{ id: string; allocation_id: string }[]>(
    `INSERT INTO reservations (allocation_id, gpu_model, cluster_id, starts_at, ends_at, status)
     SELECT t.allocation_id, t.gpu_model, t.cluster_id, to_timestamp(t.starts), to_timestamp(t.ends), 'placed'
       FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::bigint[])
            AS t(allocation_id, gpu_model, cluster_id, starts, ends)
     RETURNING id, allocation_id`,
    [
      placements.map((p) => p.allocationId),
      placements.map((p) => p.gpuModel),
      placements.map((p) => p.clusterId),
      placements.map((p) => p.start),
      placements.map((p) => p.end),
    ],
  );
  const reservationOf = new Map(inserted.map((row) => [row.allocation_id, row.id]));
  const nodeRows = placements.flatMap((placement) =>
    placement.nodeIds.map((nodeId) => ({
      reservationId: reservationOf.get(placement.allocationId) as string,
      nodeId,
      start: placement.start,
      end: placement.end,
    })),
  );
  await manager.query(
    `INSERT INTO reservation_nodes (reservation_id, node_id, during)
     SELECT t.reservation_id, t.node_id, tstzrange(to_timestamp(t.starts), to_timestamp(t.ends), '[)')
       FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[]) AS t(reservation_id, node_id, starts, ends)`,
    [
      nodeRows.map((row) => row.reservationId),
      nodeRows.map((row) => row.nodeId),
      nodeRows.map((row) => row.start),
      nodeRows.map((row) => row.end),
    ],
  );
  await manager.query(
    `UPDATE allocations a SET starts_at = to_timestamp(t.starts), ends_at = to_timestamp(t.ends)
       FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS t(id, starts, ends)
      WHERE a.id = t.id`,
    [placements.map((p) => p.allocationId), placements.map((p) => p.start), placements.map((p) => p.end)],
  );
  await manager.query(
    `UPDATE reservation_plans SET status = 'placed', earliest_feasible_start = NULL, code = NULL, reason = NULL,
            attempts = attempts + 1, updated_at = now()
      WHERE allocation_id = ANY($1)`,
    [placements.map((p) => p.allocationId)],
  );
  await insertAuditEvents(
    manager,
    placements.map((placement) => ({
      action: 'allocation.reservation_placed',
      subjectId: placement.allocationId,
      after: {
        reservationId: reservationOf.get(placement.allocationId),
        clusterId: placement.clusterId,
        nodeIds: placement.nodeIds,
        startsAt: new Date(placement.start * 1000),
        endsAt: new Date(placement.end * 1000),
      },
    })),
    jobId,
  );
}

/**
 * Marks lines waitlisted with the earliest feasible start (or none) and the planner's sentence.
 * Only rows whose status, offer or sentence change are written, so re-planning an unchanged waitlist
 * changes nothing.
 */
async function recordWaitlisted(
  manager: EntityManager,
  waitlisted: readonly WaitlistRecord[],
  current: ReadonlyMap<string, QueuedReservedLine>,
  jobId: string | null,
): Promise<number> {
  const changed = waitlisted.filter((record) => {
    const line = current.get(record.allocationId);
    if (!line || line.planStatus !== 'waitlisted') return true;
    const offered = line.earliestFeasibleStart ? floorSeconds(line.earliestFeasibleStart) : null;
    return (
      offered !== record.earliestFeasibleStart || line.code !== record.code || line.reason !== record.reason
    );
  });
  if (changed.length === 0) return 0;
  await manager.query(
    `UPDATE reservation_plans p
        SET status = 'waitlisted',
            earliest_feasible_start = CASE WHEN t.earliest IS NULL THEN NULL ELSE to_timestamp(t.earliest) END,
            code = t.code, reason = t.reason, attempts = p.attempts + 1, updated_at = now()
       FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS t(id, earliest, code, reason)
      WHERE p.allocation_id = t.id`,
    [
      changed.map((record) => record.allocationId),
      changed.map((record) => record.earliestFeasibleStart),
      changed.map((record) => record.code),
      changed.map((record) => record.reason),
    ],
  );
  await insertAuditEvents(
    manager,
    changed.map((record) => ({
      action: 'allocation.reservation_waitlisted',
      subjectId: record.allocationId,
      after: {
        earliestFeasibleStart:
          record.earliestFeasibleStart === null ? null : new Date(record.earliestFeasibleStart * 1000),
        code: record.code,
        reason: record.reason,
      },
    })),
    jobId,
  );
  return changed.length;
}

async function insertAuditEvents(
  manager: EntityManager,
  events: readonly { action: string; subjectId: string; after: object }[],
  jobId: string | null,
): Promise<void> {
  if (events.length === 0) return;
  await manager.query(
    `INSERT INTO audit_events (actor_id, actor_kind, action, subject_type, subject_id, before, after, request_id)
     SELECT NULL, 'system', t.action, 'allocation', t.subject_id, NULL, t.after::jsonb, $4
       FROM unnest($1::text[], $2::text[], $3::text[]) AS t(action, subject_id, after)`,
    [
      events.map((event) => event.action),
      events.map((event) => event.subjectId),
      events.map((event) => JSON.stringify(auditJson(event.after))),
      jobId === null ? null : `job:${jobId}`,
    ],
  );
}

/** Pending plans older than `graceMs`, oldest first: the outbox sweep's work. */
async function pendingPlans(
  manager: EntityManager,
  graceMs: number,
  limit = 1000,
): Promise<{ allocationId: string; gpuModel: string }[]> {
  const rows = await manager.query<{ allocation_id: string; gpu_model: string }[]>(
    `SELECT p.allocation_id, a.gpu_model FROM reservation_plans p JOIN allocations a ON a.id = p.allocation_id
      WHERE p.status = 'pending' AND p.updated_at < now() - ($1::int * interval '1 millisecond')
      ORDER BY p.updated_at LIMIT $2`,
    [graceMs, limit],
  );
  return rows.map((row) => ({ allocationId: row.allocation_id, gpuModel: row.gpu_model }));
}

/** GPU models with a waitlist: the periodic re-plan's work. */
async function waitlistedModels(manager: EntityManager): Promise<string[]> {
  const rows = await manager.query<{ gpu_model: string }[]>(
    `SELECT DISTINCT a.gpu_model FROM reservation_plans p JOIN allocations a ON a.id = p.allocation_id
      WHERE p.status = 'waitlisted' ORDER BY a.gpu_model`,
  );
  return rows.map((row) => row.gpu_model);
}

/** A pending request's row as what-if plans it: its window, program and the organization's type. */
export interface WhatIfRequestRow {
  id: string;
  status: string;
  programId: string;
  projectId: string;
  startsAt: Date;
  endsAt: Date;
  sector: string | null;
  organizationType: string;
  programEndsAt: Date;
}

/** A reserved line of an allocation request (what-if plans it as if approved). */
export interface RequestReservedLine {
  id: string;
  requestId: string;
  gpuModel: string;
  servers: number;
  startsAt: Date | null;
  endsAt: Date | null;
  sameInterconnectDomain: boolean;
}

interface WhatIfRequestSqlRow {
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

const WHAT_IF_REQUEST_SELECT = `SELECT r.id, r.status, r.program_id, r.project_id, r.starts_at, r.ends_at, r.sector,
                           o.type AS organization_type, pr.ends_at AS program_ends_at
                      FROM allocation_requests r
                      JOIN projects p ON p.id = r.project_id
                      JOIN organizations o ON o.id = p.organization_id
                      JOIN programs pr ON pr.id = r.program_id`;

function whatIfRequestRow(row: WhatIfRequestSqlRow): WhatIfRequestRow {
  return {
    id: row.id,
    status: row.status,
    programId: row.program_id,
    projectId: row.project_id,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    sector: row.sector,
    organizationType: row.organization_type,
    programEndsAt: row.program_ends_at,
  };
}

/**
 * The planning queue of reserved allocations (`reservation_plans`) and what a planning run reads
 * and writes: the model's advisory lock, the queue, the calendar inputs, placements and the
 * waitlist; and the pending requests what-if plans on a copy of it.
 */
@Injectable()
export class ReservationPlansRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Serializes planning runs of one GPU model across every scheduler process, for the rest of the
   * transaction. Distinct from the scheduling cycle's partition lock.
   */
  lockModel(tx: Tx, gpuModel: string): Promise<void> {
    return lockPlanningModel(tx, gpuModel);
  }

  /** A READ ONLY transaction from here on: what-if writes nothing, whatever happens. */
  async readOnly(tx: Tx): Promise<void> {
    await tx.query('SET TRANSACTION READ ONLY');
  }

  planStatusOf(allocationId: string, tx?: Tx): Promise<{ status: string; gpuModel: string } | null> {
    return planStatusOf(tx ?? this.dataSource.manager, allocationId);
  }

  queue(
    tx: Tx,
    gpuModels: readonly string[],
    options: { lock?: boolean; programId?: string } = {},
  ): Promise<QueuedReservedLine[]> {
    return loadPlanningQueue(tx, gpuModels, options);
  }

  inputs(
    tx: Tx,
    gpuModels: readonly string[],
    requests: readonly ReservationRequest[],
    now: Date,
  ): Promise<PlanningInputs> {
    return loadPlanningInputs(tx, gpuModels, requests, now);
  }

  recordPlacements(tx: Tx, placements: readonly PlacementRecord[], jobId: string | null): Promise<void> {
    return recordPlacements(tx, placements, jobId);
  }

  /** Returns how many waitlisted lines changed (and so were written). */
  recordWaitlisted(
    tx: Tx,
    waitlisted: readonly WaitlistRecord[],
    queue: ReadonlyMap<string, QueuedReservedLine>,
    jobId: string | null,
  ): Promise<number> {
    return recordWaitlisted(tx, waitlisted, queue, jobId);
  }

  /** Reserved nodes changed: the shared queue's next cycle of the model must see them. */
  markPartitionDirty(tx: Tx, gpuModel: string): Promise<void> {
    return markPartitionDirty(tx, gpuModel);
  }

  /** Pending plans older than `graceMs`, oldest first: the outbox sweep's work. */
  pendingPlans(graceMs: number, limit?: number): Promise<{ allocationId: string; gpuModel: string }[]> {
    return pendingPlans(this.dataSource.manager, graceMs, limit);
  }

  /** GPU models with a waitlist: the periodic re-plan's work. */
  waitlistedModels(): Promise<string[]> {
    return waitlistedModels(this.dataSource.manager);
  }

  async programExists(tx: Tx, programId: string): Promise<boolean> {
    const rows = await tx.query<{ id: string }[]>('SELECT id FROM programs WHERE id = $1', [programId]);
    return rows.length > 0;
  }

  /** A program's requests in the given states, in submission order. */
  async requestsOfProgram(tx: Tx, programId: string, states: readonly string[]): Promise<WhatIfRequestRow[]> {
    const rows = await tx.query<WhatIfRequestSqlRow[]>(
      `${WHAT_IF_REQUEST_SELECT} WHERE r.program_id = $1 AND r.status = ANY($2)
          ORDER BY r.submitted_at NULLS LAST, r.created_at, r.id`,
      [programId, states],
    );
    return rows.map(whatIfRequestRow);
  }

  /** The named requests that exist, in no particular order. */
  async requestsByIds(tx: Tx, ids: readonly string[]): Promise<WhatIfRequestRow[]> {
    const rows = await tx.query<WhatIfRequestSqlRow[]>(`${WHAT_IF_REQUEST_SELECT} WHERE r.id = ANY($1)`, [
      ids,
    ]);
    return rows.map(whatIfRequestRow);
  }

  /** The reserved lines (with servers) of the given requests. */
  async reservedLinesOf(tx: Tx, requestIds: readonly string[]): Promise<RequestReservedLine[]> {
    const rows = await tx.query<
      {
        id: string;
        request_id: string;
        gpu_model: string;
        servers: number;
        starts_at: Date | null;
        ends_at: Date | null;
        same_interconnect_domain: boolean;
      }[]
    >(
      `SELECT id, request_id, gpu_model, servers, starts_at, ends_at, same_interconnect_domain
           FROM allocation_request_lines
          WHERE request_id = ANY($1) AND kind = 'reserved' AND servers IS NOT NULL`,
      [requestIds],
    );
    return rows.map((row) => ({
      id: row.id,
      requestId: row.request_id,
      gpuModel: row.gpu_model,
      servers: row.servers,
      startsAt: row.starts_at,
      endsAt: row.ends_at,
      sameInterconnectDomain: row.same_interconnect_domain,
    }));
  }
}
