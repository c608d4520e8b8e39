import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { DomainCapacity } from '#domain';
import { WorkloadPlacementEntity } from '../entities/workload.entities.js';
import type { Tx } from '../transaction.js';

/** One part of a placement: GPUs of one node, with its names. */
export interface PlacementPart {
  nodeId: string;
  nodeName: string;
  cluster: string;
  interconnectDomain: string;
  gpus: number;
}

/** A placement part as a cluster adapter receives it, with the adapter of its cluster. */
export interface DispatchPart {
  nodeId: string;
  nodeName: string;
  gpus: number;
  adapter: string;
}

/** A GPU model's placement limits, summed by SQL per interconnect domain over nodes in service. */
export interface PlacementLimits {
  /** Null when the model has no node pool. */
  gpusPerNode: number | null;
  domains: DomainCapacity[];
}

/** Which GPUs of which nodes workloads hold, and what the pool could place at most. */
export abstract class WorkloadPlacementRepository {
  /** Placements of the given workloads, with node and cluster names, in one query. */
  abstract placementsOf(workloadIds: string[]): Promise<Map<string, PlacementPart[]>>;
  /** The parts a dispatch hands to the cluster, by node name. */
  abstract dispatchParts(workloadId: string): Promise<DispatchPart[]>;
  /** The adapter of the cluster the workload is placed on; null once it holds no placement. */
  abstract adapterOf(workloadId: string): Promise<string | null>;
  /**
   * Gives a workload's GPUs back to its nodes and deletes its placements. Locks: the rows of its
   * nodes (UPDATE nodes … FROM workload_placements), then its workload_placements rows (DELETE).
   */
  abstract release(tx: Tx, workloadId: string): Promise<void>;
  abstract limitsOf(gpuModel: string, tx?: Tx): Promise<PlacementLimits>;
}

@Injectable()
export class TypeormWorkloadPlacementRepository extends WorkloadPlacementRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async placementsOf(workloadIds: string[]): Promise<Map<string, PlacementPart[]>> {
    const result = new Map<string, PlacementPart[]>();
    if (workloadIds.length === 0) return result;
    const rows = await this.dataSource.query<
      {
        workload_id: string;
        node_id: string;
        node_name: string;
        cluster: string;
        domain: string;
        gpus: number;
      }[]
    >(
      `SELECT p.workload_id, p.node_id, n.name AS node_name, c.name AS cluster,
              n.interconnect_domain AS domain, p.gpus
         FROM workload_placements p
         JOIN nodes n ON n.id = p.node_id
         JOIN clusters c ON c.id = n.cluster_id
        WHERE p.workload_id = ANY($1)
        ORDER BY c.name, n.name`,
      [workloadIds],
    );
    for (const row of rows) {
      const parts = result.get(row.workload_id) ?? [];
      parts.push({
        nodeId: row.node_id,
        nodeName: row.node_name,
        cluster: row.cluster,
        interconnectDomain: row.domain,
        gpus: row.gpus,
      });
      result.set(row.workload_id, parts);
    }
    return result;
  }

  override async dispatchParts(workloadId: string): Promise<DispatchPart[]> {
    const rows = await this.dataSource.query<
      { node_id: string; node_name: string; gpus: number; adapter: string }[]
    >(
      `SELECT p.node_id, n.name AS node_name, p.gpus, c.adapter
       FROM workload_placements p JOIN nodes n ON n.id = p.node_id JOIN clusters c ON c.id = n.cluster_id
       WHERE p.workload_id = $1 ORDER BY n.name`,
      [workloadId],
    );
    return rows.map((row) => ({
      nodeId: row.node_id,
      nodeName: row.node_name,
      gpus: row.gpus,
      adapter: row.adapter,
    }));
  }

  override async adapterOf(workloadId: string): Promise<string | null> {
    const rows = await this.dataSource.query<{ adapter: string }[]>(
      `SELECT c.adapter FROM workload_placements p JOIN nodes n ON n.id = p.node_id
       JOIN clusters c ON c.id = n.cluster_id WHERE p.workload_id = $1 LIMIT 1`,
      [workloadId],
    );
    return rows[0]?.adapter ?? null;
  }

  override async release(tx: Tx, workloadId: string): Promise<void> {
    await tx.query(
      `UPDATE nodes n SET gpus_allocated = n.gpus_allocated - p.gpus, updated_at = now()
       FROM workload_placements p WHERE p.workload_id = $1 AND p.node_id = n.id`,
      [workloadId],
    );
    await tx.getRepository(WorkloadPlacementEntity).delete({ workloadId });
  }

  override async limitsOf(gpuModel: string, tx?: Tx): Promise<PlacementLimits> {
    const manager = tx ?? this.dataSource.manager;
    const [pool] = await manager.query<{ gpus_per_node: number | null }[]>(
      'SELECT max(gpus_per_node) AS gpus_per_node FROM node_pools WHERE gpu_model = $1',
      [gpuModel],
    );
    const gpusPerNode = pool?.gpus_per_node ?? null;
    if (gpusPerNode === null) return { gpusPerNode, domains: [] };
    const rows = await manager.query<{ domain: string; whole_nodes: number; largest: number }[]>(
      `SELECT interconnect_domain AS domain,
              (count(*) FILTER (WHERE gpus_total >= $2))::int AS whole_nodes,
              max(gpus_total)::int AS largest
         FROM nodes WHERE gpu_model = $1 AND state <> 'down'
        GROUP BY interconnect_domain`,
      [gpuModel, gpusPerNode],
    );
    return {
      gpusPerNode,
      domains: rows.map((row) => ({
        domain: row.domain,
        wholeNodes: row.whole_nodes,
        largestNodeGpus: row.largest,
      })),
    };
  }
}
