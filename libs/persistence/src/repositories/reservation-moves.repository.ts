import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { floorSeconds, planningHorizon, type PlanningMonth } from '#domain';
import { auditJson } from '../mappers/audit-json.js';
import type { Tx } from '../transaction.js';
import type { NotificationInput } from './notifications.repository.js';
import { loadCalendar, type LoadedCalendar } from './reservation-calendar.repository.js';
import { PLANNING_EXTRA_MONTHS } from './reservation-plans.repository.js';

/**
 * When a node that is not `up` stopped serving: the time of its last audited change from `up` to
 * `down` or `draining` (node.state_changed, written in the state change's own transaction), or `$clock`
 * when the audit log does not explain the current state (a change made outside the API). Never later
 * than `$clock`. Expects the node as `n` and the clock as the parameter named by `clock`.
 */
function lostAtSql(clock: string): string {
  return `(SELECT CASE WHEN d.at IS NOT NULL AND (u.at IS NULL OR u.at < d.at) THEN least(d.at, ${clock}) ELSE ${clock} END
             FROM (SELECT max(e.created_at) AS at FROM audit_events e
                    WHERE e.subject_type = 'node' AND e.subject_id = n.id::text AND e.action = 'node.state_changed'
                      AND e.before->>'state' = 'up' AND e.after->>'state' IN ('down', 'draining')) d,
                  (SELECT max(e.created_at) AS at FROM audit_events e
                    WHERE e.subject_type = 'node' AND e.subject_id = n.id::text AND e.action = 'node.state_changed'
                      AND e.after->>'state' = 'up') u)`;
}

/** A node of the model that is `down` or `draining`: lost to the calendar from `lostAt` until it is up. */
export interface LostNodeRow {
  nodeId: string;
  name: string;
  clusterId: string;
  state: string;
  lostAt: Date;
}

/** A reserved line holding a lost node after the node was lost: what capacity loss must handle. */
export interface AffectedReservation {
  allocationId: string;
  reservationId: string;
  projectId: string;
  projectTitle: string;
  clusterId: string;
  /** Every node the reservation has a span on, past or future (a line never gets a node twice). */
  heldNodeIds: string[];
}

/** The GPU model's lost nodes, each with the instant it was lost (never after `now`). */
async function loadLostNodes(manager: EntityManager, gpuModel: string, now: Date): Promise<LostNodeRow[]> {
  const rows = await manager.query<
    { id: string; name: string; cluster_id: string; state: string; lost_at: Date }[]
  >(
    `SELECT n.id, n.name, n.cluster_id, n.state, ${lostAtSql('$2::timestamptz')} AS lost_at
       FROM nodes n
      WHERE n.gpu_model = $1 AND n.state <> 'up'
      ORDER BY n.id`,
    [gpuModel, now],
  );
  return rows.map((row) => ({
    nodeId: row.id,
    name: row.name,
    clusterId: row.cluster_id,
    state: row.state,
    lostAt: row.lost_at,
  }));
}

/**
 * The reservations with a span on a lost node that runs past the node's loss, locked for the
 * caller's transaction (an admin release of the same reservation waits), with every node each has a
 * span on. Empty when every loss is already handled: the cheap check of an idempotent re-plan.
 */
async function lockAffectedReservations(
  manager: EntityManager,
  lost: readonly { nodeId: string; lostAt: number }[],
): Promise<AffectedReservation[]> {
  if (lost.length === 0) return [];
  const rows = await manager.query<
    {
      allocation_id: string;
      reservation_id: string;
      project_id: string;
      project_title: string;
      cluster_id: string;
    }[]
  >(
    `SELECT r.allocation_id, r.id AS reservation_id, a.project_id, pj.title AS project_title, r.cluster_id
       FROM reservations r
       JOIN allocations a ON a.id = r.allocation_id
       JOIN projects pj ON pj.id = a.project_id
      WHERE r.id IN (SELECT rn.reservation_id
                       FROM reservation_nodes rn
                       JOIN unnest($1::uuid[], $2::bigint[]) AS t(node_id, lost_at) ON t.node_id = rn.node_id
                      WHERE upper(rn.during) > to_timestamp(t.lost_at))
      ORDER BY r.id
      FOR UPDATE OF r`,
    [lost.map((node) => node.nodeId), lost.map((node) => node.lostAt)],
  );
  if (rows.length === 0) return [];
  const held = await manager.query<{ reservation_id: string; node_ids: string[] }[]>(
    `SELECT reservation_id, array_agg(node_id::text ORDER BY node_id) AS node_ids
       FROM reservation_nodes WHERE reservation_id = ANY($1) GROUP BY reservation_id`,
    [rows.map((row) => row.reservation_id)],
  );
  const heldOf = new Map(held.map((row) => [row.reservation_id, row.node_ids]));
  return rows.map((row) => ({
    allocationId: row.allocation_id,
    reservationId: row.reservation_id,
    projectId: row.project_id,
    projectTitle: row.project_title,
    clusterId: row.cluster_id,
    heldNodeIds: heldOf.get(row.reservation_id) ?? [],
  }));
}

/**
 * The model's calendar for moving reservations off lost nodes: Seoul months from the earliest loss
 * through the last affected span's end, plus PLANNING_EXTRA_MONTHS (room to offer a later start).
 */
async function loadCapacityLossCalendar(
  manager: EntityManager,
  gpuModel: string,
  window: { from: number; now: Date },
): Promise<{ calendar: LoadedCalendar; months: PlanningMonth[] }> {
  const [row] = await manager.query<{ through: Date | null }[]>(
    `SELECT max(upper(rn.during)) AS through
       FROM reservation_nodes rn JOIN reservations r ON r.id = rn.reservation_id
      WHERE r.gpu_model = $1 AND upper(rn.during) > to_timestamp($2)`,
    [gpuModel, window.from],
  );
  const through = row?.through ? Math.ceil(row.through.getTime() / 1000) : window.from + 1;
  const months = planningHorizon(window.from, through, PLANNING_EXTRA_MONTHS);
  const calendar = await loadCalendar(manager, [gpuModel], {
    horizonStart: months[0]?.start ?? window.from,
    horizonEnd: months[months.length - 1]?.end ?? through,
    unavailableFrom: floorSeconds(window.now),
  });
  return { calendar, months };
}

/** A span of a line's reservation on a lost node, ended at `at` (removed when it starts at or after it). */
export interface ReservedSpanCut {
  allocationId: string;
  nodeId: string;
  at: number;
}

/** A replacement node held by a line's reservation for [start, end). */
export interface ReservedSpanAdd {
  allocationId: string;
  nodeId: string;
  start: number;
  end: number;
}

export interface CapacityLossAudit {
  action: 'allocation.reservation_moved' | 'allocation.reservation_unplaceable';
  allocationId: string;
  before: object | null;
  after: object;
}

/** Everything one capacity-loss run writes, in one transaction. */
export interface CapacityLossWrites {
  cuts: readonly ReservedSpanCut[];
  adds: readonly ReservedSpanAdd[];
  /** Lines that moved as a whole to another cluster. */
  clusterChanges: readonly { allocationId: string; clusterId: string }[];
  audits: readonly CapacityLossAudit[];
  notifications: readonly NotificationInput[];
}

/**
 * Writes a capacity-loss run in the caller's transaction: the lost nodes' spans cut at the loss (or
 * removed when they had not started), the replacement spans (the exclusion constraint refuses a node
 * booked twice, and so the whole run), a moved-whole line's new cluster, one audit event per line
 * (the notifications in `writes` are the caller's to record, through NotificationsRepository).
 */
async function recordCapacityLoss(
  manager: EntityManager,
  writes: CapacityLossWrites,
  jobId: string | null,
): Promise<void> {
  const { cuts, adds } = writes;
  if (cuts.length > 0) {
    const params = [cuts.map((c) => c.allocationId), cuts.map((c) => c.nodeId), cuts.map((c) => c.at)];
    await manager.query(
      `DELETE FROM reservation_nodes rn
        USING reservations r, unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS t(allocation_id, node_id, at)
        WHERE r.id = rn.reservation_id AND r.allocation_id = t.allocation_id AND rn.node_id = t.node_id
          AND lower(rn.during) >= to_timestamp(t.at)`,
      params,
    );
    await manager.query(
      `UPDATE reservation_nodes rn SET during = tstzrange(lower(rn.during), to_timestamp(t.at), '[)')
         FROM reservations r, unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS t(allocation_id, node_id, at)
        WHERE r.id = rn.reservation_id AND r.allocation_id = t.allocation_id AND rn.node_id = t.node_id
          AND lower(rn.during) < to_timestamp(t.at) AND upper(rn.during) > to_timestamp(t.at)`,
      params,
    );
  }
  if (adds.length > 0) {
    await manager.query(
      `INSERT INTO reservation_nodes (reservation_id, node_id, during)
       SELECT r.id, t.node_id, tstzrange(to_timestamp(t.starts), to_timestamp(t.ends), '[)')
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[]) AS t(allocation_id, node_id, starts, ends)
         JOIN reservations r ON r.allocation_id = t.allocation_id`,
      [
        adds.map((a) => a.allocationId),
        adds.map((a) => a.nodeId),
        adds.map((a) => a.start),
        adds.map((a) => a.end),
      ],
    );
  }
  if (writes.clusterChanges.length > 0) {
    await manager.query(
      `UPDATE reservations r SET cluster_id = t.cluster_id, updated_at = now()
         FROM unnest($1::uuid[], $2::uuid[]) AS t(allocation_id, cluster_id)
        WHERE r.allocation_id = t.allocation_id`,
      [writes.clusterChanges.map((c) => c.allocationId), writes.clusterChanges.map((c) => c.clusterId)],
    );
  }
  if (writes.audits.length > 0) {
    await manager.query(
      `INSERT INTO audit_events (actor_id, actor_kind, action, subject_type, subject_id, before, after, request_id)
       SELECT NULL, 'system', t.action, 'allocation', t.subject_id, t.before::jsonb, t.after::jsonb, $5
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(action, subject_id, before, after, ord)
        ORDER BY t.ord`,
      [
        writes.audits.map((audit) => audit.action),
        writes.audits.map((audit) => audit.allocationId),
        writes.audits.map((audit) =>
          audit.before === null ? null : JSON.stringify(auditJson(audit.before)),
        ),
        writes.audits.map((audit) => JSON.stringify(auditJson(audit.after))),
        jobId === null ? null : `job:${jobId}`,
      ],
    );
  }
}

/**
 * GPU models with a reserved span on a down or draining node past the node's loss: capacity loss the
 * re-plan has not handled yet (its job lost, or never enqueued). The planning reconciler re-plans them.
 */
async function modelsWithUnhandledCapacityLoss(manager: EntityManager, now: Date): Promise<string[]> {
  const rows = await manager.query<{ gpu_model: string }[]>(
    `SELECT DISTINCT l.gpu_model
       FROM (SELECT n.id, n.gpu_model, ${lostAtSql('$1::timestamptz')} AS lost_at FROM nodes n WHERE n.state <> 'up') l
      WHERE EXISTS (SELECT 1 FROM reservation_nodes rn WHERE rn.node_id = l.id AND upper(rn.during) > l.lost_at)
      ORDER BY l.gpu_model`,
    [now],
  );
  return rows.map((row) => row.gpu_model);
}

/**
 * Reservations moved off lost capacity (down or draining nodes): what a capacity-loss run reads
 * under the model's planning lock and the spans, clusters and audit events it writes. A port: the
 * capacity-loss use case is unit-tested with a fake.
 */
export abstract class ReservationMovesRepository {
  /** The model's down or draining nodes, with when each stopped serving (never later than `now`). */
  abstract lostNodes(tx: Tx, gpuModel: string, now: Date): Promise<LostNodeRow[]>;
  /** Reservations holding a lost node after its loss, locked for the transaction. */
  abstract lockAffected(
    tx: Tx,
    lost: readonly { nodeId: string; lostAt: number }[],
  ): Promise<AffectedReservation[]>;
  /** The model's calendar from the first loss through the last reserved end. */
  abstract calendarFrom(
    tx: Tx,
    gpuModel: string,
    window: { from: number; now: Date },
  ): Promise<{ calendar: LoadedCalendar; months: PlanningMonth[] }>;
  /** Cuts, replacement spans, cluster changes and audit events (not the notifications). */
  abstract record(tx: Tx, writes: CapacityLossWrites, jobId: string | null): Promise<void>;
  /** GPU models with a reserved span on a lost node past its loss: capacity loss not handled yet. */
  abstract modelsWithUnhandledLoss(now: Date): Promise<string[]>;
}

@Injectable()
export class TypeormReservationMovesRepository extends ReservationMovesRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override lostNodes(tx: Tx, gpuModel: string, now: Date): Promise<LostNodeRow[]> {
    return loadLostNodes(tx, gpuModel, now);
  }

  override lockAffected(
    tx: Tx,
    lost: readonly { nodeId: string; lostAt: number }[],
  ): Promise<AffectedReservation[]> {
    return lockAffectedReservations(tx, lost);
  }

  override calendarFrom(
    tx: Tx,
    gpuModel: string,
    window: { from: number; now: Date },
  ): Promise<{ calendar: LoadedCalendar; months: PlanningMonth[] }> {
    return loadCapacityLossCalendar(tx, gpuModel, window);
  }

  override record(tx: Tx, writes: CapacityLossWrites, jobId: string | null): Promise<void> {
    return recordCapacityLoss(tx, writes, jobId);
  }

  override modelsWithUnhandledLoss(now: Date): Promise<string[]> {
    return modelsWithUnhandledCapacityLoss(this.dataSource.manager, now);
  }
}
