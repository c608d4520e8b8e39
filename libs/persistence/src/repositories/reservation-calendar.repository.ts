import type { EntityManager } from 'typeorm';
import {
  ceilSeconds,
  floorSeconds,
  isOrganizationType,
  requestSector,
  sectorTargetProblems,
  type PlacedReservation,
  type PlanningNode,
  type PoolShape,
  type SectorTargets,
} from '#domain';

/**
 * The capacity calendar as the planner sees it, read from PostgreSQL: the nodes of some GPU models
 * (with cluster, interconnect domain and availability) and the reservations already on them, each
 * tagged with its program and sector so it counts toward the program's sector use.
 */
export interface LoadedCalendar {
  nodes: PlanningNode[];
  reservations: PlacedReservation[];
  /** For answers people read: node id → name, cluster id → name. */
  nodeNames: Map<string, string>;
  clusterNames: Map<string, string>;
}

interface NodeRow {
  id: string;
  name: string;
  cluster_id: string;
  cluster_name: string;
  gpu_model: string;
  interconnect_domain: string;
  gpus_total: number;
  state: string;
}

interface ReservedSpanRow {
  reservation_id: string;
  allocation_id: string;
  node_id: string;
  starts_at: Date;
  ends_at: Date;
  program_id: string;
  sector: string | null;
  organization_type: string;
  same_interconnect_domain: boolean;
}

/**
 * Nodes and reservations of `gpuModels`. A node that is down or draining serves nothing from
 * `unavailableFrom` to `horizonEnd` (it may come back; a re-plan then sees it up). Reservation spans
 * ending before `horizonStart` are left out: they cannot affect the plan. Spans are widened to whole
 * seconds (start down, end up), so a hand-written span never looks shorter than it is.
 */
export async function loadCalendar(
  manager: EntityManager,
  gpuModels: readonly string[],
  window: { horizonStart: number; horizonEnd: number; unavailableFrom: number },
): Promise<LoadedCalendar> {
  const nodeRows = await manager.query<NodeRow[]>(
    `SELECT n.id, n.name, n.cluster_id, c.name AS cluster_name, n.gpu_model, n.interconnect_domain,
            n.gpus_total, n.state
       FROM nodes n JOIN clusters c ON c.id = n.cluster_id
      WHERE n.gpu_model = ANY($1)
      ORDER BY n.id`,
    [gpuModels],
  );
  const downFrom = Math.min(window.unavailableFrom, window.horizonEnd - 1);
  const nodes: PlanningNode[] = nodeRows.map((row) => ({
    id: row.id,
    clusterId: row.cluster_id,
    gpuModel: row.gpu_model,
    gpusPerNode: row.gpus_total,
    interconnectDomain: row.interconnect_domain,
    unavailable: row.state === 'up' ? [] : [{ start: downFrom, end: window.horizonEnd, reason: row.state }],
  }));
  const spans = await manager.query<ReservedSpanRow[]>(
    `SELECT rn.reservation_id, r.allocation_id, rn.node_id, lower(rn.during) AS starts_at,
            upper(rn.during) AS ends_at, a.program_id, q.sector, o.type AS organization_type,
            a.same_interconnect_domain
       FROM reservation_nodes rn
       JOIN reservations r ON r.id = rn.reservation_id
       JOIN allocations a ON a.id = r.allocation_id
       JOIN allocation_requests q ON q.id = a.request_id
       JOIN projects p ON p.id = a.project_id
       JOIN organizations o ON o.id = p.organization_id
      WHERE r.gpu_model = ANY($1) AND upper(rn.during) > to_timestamp($2)
      ORDER BY rn.reservation_id, lower(rn.during), upper(rn.during), rn.node_id`,
    [gpuModels, window.horizonStart],
  );
  // One calendar record per reservation and span: an early release splits a line into the servers
  // it keeps and the shorter span of the ones it gave back.
  const records = new Map<string, PlacedReservation & { nodeIds: string[] }>();
  for (const span of spans) {
    const start = floorSeconds(span.starts_at);
    const end = ceilSeconds(span.ends_at);
    const key = `${span.reservation_id}|${start}|${end}`;
    let record = records.get(key);
    if (!record) {
      record = {
        lineId: span.allocation_id,
        nodeIds: [],
        start,
        end,
        programId: span.program_id,
        sector: isOrganizationType(span.organization_type)
          ? requestSector(span.sector, span.organization_type)
          : undefined,
        sameInterconnectDomain: span.same_interconnect_domain,
      };
      records.set(key, record);
    }
    record.nodeIds.push(span.node_id);
  }
  return {
    nodes,
    reservations: [...records.values()],
    nodeNames: new Map(nodeRows.map((row) => [row.id, row.name])),
    clusterNames: new Map(nodeRows.map((row) => [row.cluster_id, row.cluster_name])),
  };
}

/**
 * Sector targets of the given programs (whole percents, programs.sector_targets). A stored value the
 * planner would refuse is left out, so that program plans with the default 50/30/20 instead of
 * failing every plan of its GPU model.
 */
export async function loadSectorTargets(
  manager: EntityManager,
  programIds: readonly string[],
): Promise<Record<string, SectorTargets>> {
  if (programIds.length === 0) return {};
  const rows = await manager.query<{ id: string; sector_targets: unknown }[]>(
    'SELECT id, sector_targets FROM programs WHERE id = ANY($1)',
    [[...new Set(programIds)]],
  );
  const targets: Record<string, SectorTargets> = {};
  for (const row of rows) {
    const value = row.sector_targets as Partial<SectorTargets> | null;
    if (value === null || typeof value !== 'object') continue;
    const candidate: SectorTargets = {
      national: Number(value.national),
      industry: Number(value.industry),
      academia: Number(value.academia),
    };
    if (sectorTargetProblems(row.id, candidate).length === 0) targets[row.id] = candidate;
  }
  return targets;
}

/**
 * What the pool has of each GPU model, as a reserved line is judged against it: nodes (in any state:
 * a down node may come back), GPUs per node, and the largest cluster and interconnect domain. A model
 * with no node is absent from the map.
 */
export async function poolShapes(
  manager: EntityManager,
  gpuModels: readonly string[],
): Promise<Map<string, PoolShape>> {
  if (gpuModels.length === 0) return new Map();
  const rows = await manager.query<
    {
      gpu_model: string;
      nodes: number;
      gpus_per_node: number;
      largest_cluster: number;
      largest_domain: number;
    }[]
  >(
    `WITH per_domain AS (
       SELECT gpu_model, cluster_id, interconnect_domain, count(*) AS nodes, max(gpus_total) AS gpus
         FROM nodes WHERE gpu_model = ANY($1) GROUP BY gpu_model, cluster_id, interconnect_domain
     ), per_cluster AS (
       SELECT gpu_model, cluster_id, sum(nodes) AS nodes FROM per_domain GROUP BY gpu_model, cluster_id
     )
     SELECT d.gpu_model, sum(d.nodes)::int AS nodes, max(d.gpus)::int AS gpus_per_node,
            max(d.nodes)::int AS largest_domain,
            (SELECT max(c.nodes) FROM per_cluster c WHERE c.gpu_model = d.gpu_model)::int AS largest_cluster
       FROM per_domain d GROUP BY d.gpu_model`,
    [[...new Set(gpuModels)]],
  );
  return new Map(
    rows.map((row) => [
      row.gpu_model,
      {
        gpuModel: row.gpu_model,
        nodes: row.nodes,
        gpusPerNode: row.gpus_per_node,
        largestCluster: row.largest_cluster,
        largestDomain: row.largest_domain,
      },
    ]),
  );
}
