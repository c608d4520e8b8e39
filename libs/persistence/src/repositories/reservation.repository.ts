import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { isOrganizationType, requestSector, type Sector } from '#domain';
import { auditJson } from '../mappers/audit-json.js';
import type { Tx } from '../transaction.js';

/** Where a reserved allocation stands on the calendar, for people reading it. */
export interface ReservationStanding {
  allocationId: string;
  /** pending (not planned yet) · placed · waitlisted · released (every server given back early) */
  status: 'pending' | 'placed' | 'waitlisted' | 'released';
  servers: number | null;
  sameInterconnectDomain: boolean;
  /** Placed or released: the reservation. */
  reservation: {
    id: string;
    clusterId: string;
    clusterName: string;
    startsAt: Date;
    endsAt: Date;
    /** Each node and the span it is held; a released node's span ends at its release. */
    nodes: { id: string; name: string; startsAt: Date | null; endsAt: Date | null }[];
  } | null;
  /** Waitlisted: the earliest start the calendar could offer (null: none before the horizon). */
  earliestFeasibleStart: Date | null;
  code: string | null;
  reason: string | null;
  attempts: number;
  updatedAt: Date | null;
}

/** The calendar standing of reserved allocations (absent from the map: no plan, e.g. a budget line). */
export async function reservationStandings(
  manager: EntityManager,
  allocationIds: readonly string[],
): Promise<Map<string, ReservationStanding>> {
  const result = new Map<string, ReservationStanding>();
  if (allocationIds.length === 0) return result;
  const plans = await manager.query<
    {
      allocation_id: string;
      plan_status: string | null;
      earliest_feasible_start: Date | null;
      code: string | null;
      reason: string | null;
      attempts: number | null;
      updated_at: Date | null;
      servers: number | null;
      same_interconnect_domain: boolean;
      reservation_id: string | null;
      reservation_status: string | null;
      cluster_id: string | null;
      cluster_name: string | null;
      starts_at: Date | null;
      ends_at: Date | null;
    }[]
  >(
    `SELECT a.id AS allocation_id, p.status AS plan_status, p.earliest_feasible_start, p.code, p.reason,
            p.attempts, p.updated_at, a.servers, a.same_interconnect_domain, r.id AS reservation_id,
            r.status AS reservation_status, r.cluster_id, c.name AS cluster_name, r.starts_at, r.ends_at
       FROM allocations a
       LEFT JOIN reservation_plans p ON p.allocation_id = a.id
       LEFT JOIN reservations r ON r.allocation_id = a.id
       LEFT JOIN clusters c ON c.id = r.cluster_id
      WHERE a.id = ANY($1) AND (p.allocation_id IS NOT NULL OR r.id IS NOT NULL)`,
    [allocationIds],
  );
  const reservationIds = plans.flatMap((plan) => (plan.reservation_id ? [plan.reservation_id] : []));
  const nodes =
    reservationIds.length === 0
      ? []
      : await manager.query<
          {
            reservation_id: string;
            node_id: string;
            name: string;
            starts_at: Date | null;
            ends_at: Date | null;
          }[]
        >(
          `SELECT rn.reservation_id, rn.node_id, n.name, lower(rn.during) AS starts_at, upper(rn.during) AS ends_at
             FROM reservation_nodes rn JOIN nodes n ON n.id = rn.node_id
            WHERE rn.reservation_id = ANY($1)
            ORDER BY n.name, n.id`,
          [reservationIds],
        );
  for (const plan of plans) {
    const status: ReservationStanding['status'] =
      plan.reservation_status === 'released'
        ? 'released'
        : plan.reservation_id !== null
          ? 'placed'
          : plan.plan_status === 'waitlisted'
            ? 'waitlisted'
            : 'pending';
    result.set(plan.allocation_id, {
      allocationId: plan.allocation_id,
      status,
      servers: plan.servers,
      sameInterconnectDomain: plan.same_interconnect_domain,
      reservation:
        plan.reservation_id === null
          ? null
          : {
              id: plan.reservation_id,
              clusterId: plan.cluster_id as string,
              clusterName: plan.cluster_name as string,
              startsAt: plan.starts_at as Date,
              endsAt: plan.ends_at as Date,
              nodes: nodes
                .filter((node) => node.reservation_id === plan.reservation_id)
                .map((node) => ({
                  id: node.node_id,
                  name: node.name,
                  startsAt: node.starts_at,
                  endsAt: node.ends_at,
                })),
            },
      earliestFeasibleStart: status === 'waitlisted' ? plan.earliest_feasible_start : null,
      code: status === 'waitlisted' ? plan.code : null,
      reason: status === 'waitlisted' ? plan.reason : null,
      attempts: plan.attempts ?? 0,
      updatedAt: plan.updated_at,
    });
  }
  return result;
}

export interface WaitlistEntry {
  allocationId: string;
  requestId: string;
  projectId: string;
  projectTitle: string;
  programId: string;
  gpuModel: string;
  servers: number | null;
  sameInterconnectDomain: boolean;
  sector: Sector | null;
  /** The window asked for (a waitlisted allocation keeps it until it is placed). */
  startsAt: Date;
  endsAt: Date;
  earliestFeasibleStart: Date | null;
  code: string | null;
  reason: string | null;
  attempts: number;
  approvedAt: Date | null;
  updatedAt: Date;
  /** 1-based place in its GPU model's waitlist (approval order), among the rows this filter matches. */
  position: number;
  /** Place in the whole answer (GPU model, then approval order): the page cursor. */
  ordinal: number;
}

/**
 * Waitlisted reserved allocations in approval order per GPU model (model, then decision time, then
 * allocation id), keyset-paged after `after` (the last row's position key).
 */
async function waitlistEntries(
  manager: EntityManager,
  filter: { programId?: string; gpuModel?: string },
  page: { limit: number; afterPosition?: number },
): Promise<WaitlistEntry[]> {
  const rows = await manager.query<
    {
      allocation_id: string;
      request_id: string;
      project_id: string;
      project_title: string;
      program_id: string;
      gpu_model: string;
      servers: number | null;
      same_interconnect_domain: boolean;
      sector: string | null;
      organization_type: string;
      starts_at: Date;
      ends_at: Date;
      earliest_feasible_start: Date | null;
      code: string | null;
      reason: string | null;
      attempts: number;
      decided_at: Date | null;
      updated_at: Date;
      position: string;
      ordinal: string;
    }[]
  >(
    `SELECT * FROM (
       SELECT p.allocation_id, a.request_id, a.project_id, pj.title AS project_title, a.program_id, a.gpu_model,
              a.servers, a.same_interconnect_domain, r.sector, o.type AS organization_type, a.starts_at,
              a.ends_at, p.earliest_feasible_start, p.code, p.reason, p.attempts, r.decided_at, p.updated_at,
              row_number() OVER (PARTITION BY a.gpu_model ORDER BY r.decided_at NULLS LAST, a.created_at, a.id)::text
                AS position,
              row_number() OVER (ORDER BY a.gpu_model, r.decided_at NULLS LAST, a.created_at, a.id)::text AS ordinal
         FROM reservation_plans p
         JOIN allocations a ON a.id = p.allocation_id
         JOIN allocation_requests r ON r.id = a.request_id
         JOIN projects pj ON pj.id = a.project_id
         JOIN organizations o ON o.id = pj.organization_id
        WHERE p.status = 'waitlisted'
          AND ($1::uuid IS NULL OR a.program_id = $1)
          AND ($2::text IS NULL OR a.gpu_model = $2)
     ) w
     WHERE w.ordinal::bigint > $3
     ORDER BY w.ordinal::bigint
     LIMIT $4`,
    [filter.programId ?? null, filter.gpuModel ?? null, page.afterPosition ?? 0, page.limit + 1],
  );
  return rows.map((row) => ({
    allocationId: row.allocation_id,
    requestId: row.request_id,
    projectId: row.project_id,
    projectTitle: row.project_title,
    programId: row.program_id,
    gpuModel: row.gpu_model,
    servers: row.servers,
    sameInterconnectDomain: row.same_interconnect_domain,
    sector: isOrganizationType(row.organization_type)
      ? requestSector(row.sector, row.organization_type)
      : null,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    earliestFeasibleStart: row.earliest_feasible_start,
    code: row.code,
    reason: row.reason,
    attempts: row.attempts,
    approvedAt: row.decided_at,
    updatedAt: row.updated_at,
    position: Number(row.position),
    ordinal: Number(row.ordinal),
  }));
}

/** GPUs of nodes under a reservation at `at`, per GPU model. */
export async function reservedGpusAt(manager: EntityManager, at: Date): Promise<Map<string, number>> {
  const rows = await manager.query<{ gpu_model: string; gpus: string }[]>(
    `SELECT n.gpu_model, sum(n.gpus_total)::text AS gpus
       FROM nodes n
      WHERE EXISTS (SELECT 1 FROM reservation_nodes rn WHERE rn.node_id = n.id AND rn.during @> $1::timestamptz)
      GROUP BY n.gpu_model`,
    [at],
  );
  return new Map(rows.map((row) => [row.gpu_model, Number(row.gpus)]));
}

/** A reservation row, locked for the transaction. */
export interface LockedReservation {
  id: string;
  gpuModel: string;
  status: string;
}

/** A server a reservation holds and the span it holds it. */
export interface HeldNode {
  nodeId: string;
  startsAt: Date;
  endsAt: Date;
}

/**
 * Reservations of reserved allocations (`reservations`, `reservation_nodes`): their standing and the
 * waitlist for people, and the writes of an early release. The exclusion constraint on
 * reservation_nodes refuses a node held twice.
 */
@Injectable()
export class ReservationRepository {
  constructor(private readonly dataSource: DataSource) {}

  standings(allocationIds: readonly string[], tx?: Tx): Promise<Map<string, ReservationStanding>> {
    return reservationStandings(tx ?? this.dataSource.manager, allocationIds);
  }

  waitlist(
    filter: { programId?: string; gpuModel?: string },
    page: { limit: number; afterPosition?: number },
  ): Promise<WaitlistEntry[]> {
    return waitlistEntries(this.dataSource.manager, filter, page);
  }

  async allocationExists(tx: Tx, allocationId: string): Promise<boolean> {
    const rows = await tx.query<{ id: string }[]>('SELECT id FROM allocations WHERE id = $1', [allocationId]);
    return rows.length > 0;
  }

  async lockOf(tx: Tx, allocationId: string): Promise<LockedReservation | null> {
    const [row] = await tx.query<{ id: string; gpu_model: string; status: string }[]>(
      'SELECT id, gpu_model, status FROM reservations WHERE allocation_id = $1 FOR UPDATE',
      [allocationId],
    );
    return row ? { id: row.id, gpuModel: row.gpu_model, status: row.status } : null;
  }

  /** The servers the reservation holds after `at`, by node id. */
  async heldAfter(tx: Tx, reservationId: string, at: Date): Promise<HeldNode[]> {
    const rows = await tx.query<{ node_id: string; starts_at: Date; ends_at: Date }[]>(
      `SELECT node_id, lower(during) AS starts_at, upper(during) AS ends_at FROM reservation_nodes
        WHERE reservation_id = $1 AND upper(during) > $2::timestamptz ORDER BY node_id`,
      [reservationId, at],
    );
    return rows.map((row) => ({ nodeId: row.node_id, startsAt: row.starts_at, endsAt: row.ends_at }));
  }

  /**
   * The nodes stop being held at `at`: a span that starts at or after `at` is removed, one running
   * then ends there. Returns how many servers the reservation still holds after `at`.
   */
  async endSpansAt(tx: Tx, reservationId: string, nodeIds: readonly string[], at: Date): Promise<number> {
    await tx.query(
      `DELETE FROM reservation_nodes WHERE reservation_id = $1 AND node_id = ANY($2) AND lower(during) >= $3::timestamptz`,
      [reservationId, nodeIds, at],
    );
    await tx.query(
      `UPDATE reservation_nodes SET during = tstzrange(lower(during), $3::timestamptz, '[)')
        WHERE reservation_id = $1 AND node_id = ANY($2) AND lower(during) < $3::timestamptz`,
      [reservationId, nodeIds, at],
    );
    const [left] = await tx.query<{ n: string }[]>(
      `SELECT count(*)::text AS n FROM reservation_nodes WHERE reservation_id = $1 AND upper(during) > $2::timestamptz`,
      [reservationId, at],
    );
    return Number(left?.n ?? 0);
  }

  async setStatus(tx: Tx, reservationId: string, status: 'placed' | 'released'): Promise<void> {
    await tx.query(`UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1`, [
      reservationId,
      status,
    ]);
  }

  /** The `allocation.reservation_released` audit event. */
  async auditRelease(
    tx: Tx,
    allocationId: string,
    actor: { actorId: string | null; actorKind: string; requestId: string | null },
    change: { before: object; after: object },
  ): Promise<void> {
    await tx.query(
      `INSERT INTO audit_events (actor_id, actor_kind, action, subject_type, subject_id, before, after, request_id)
       VALUES ($1, $2, 'allocation.reservation_released', 'allocation', $3, $4::jsonb, $5::jsonb, $6)`,
      [
        actor.actorId,
        actor.actorKind,
        allocationId,
        JSON.stringify(auditJson(change.before)),
        JSON.stringify(auditJson(change.after)),
        actor.requestId,
      ],
    );
  }
}
