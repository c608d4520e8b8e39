import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { reservedGpusAt } from './reservation.repository.js';

/** One GPU model's nodes, summed by PostgreSQL (bigint sums become numbers: far below 2^53). */
export interface ModelNodeFigures {
  gpuModel: string;
  gpusPerNode: number;
  nodes: number;
  total: number;
  inUse: number;
  draining: number;
  down: number;
  free: number;
}

export interface ModelQueuedDemand {
  gpuModel: string;
  queuedDemand: number;
  queuedWorkloads: number;
}

/**
 * Capacity per GPU model, computed by PostgreSQL (GROUP BY queries over indexed columns): the
 * 6,250 node rows of the national pool never travel to the API.
 */
@Injectable()
export class CapacityRepository {
  constructor(private readonly dataSource: DataSource) {}

  async nodeFigures(): Promise<ModelNodeFigures[]> {
    const rows = await this.dataSource.manager.query<
      {
        gpu_model: string;
        gpus_per_node: number;
        nodes: number;
        total: string;
        in_use: string;
        draining: string;
        down: string;
        free: string;
      }[]
    >(
      `SELECT gpu_model,
              max(gpus_total)::int AS gpus_per_node,
              count(*)::int AS nodes,
              sum(gpus_total)::text AS total,
              coalesce(sum(gpus_allocated) FILTER (WHERE state IN ('up', 'draining')), 0)::text AS in_use,
              coalesce(sum(gpus_total) FILTER (WHERE state = 'draining'), 0)::text AS draining,
              coalesce(sum(gpus_total) FILTER (WHERE state = 'down'), 0)::text AS down,
              coalesce(sum(gpus_total - gpus_allocated) FILTER (WHERE state = 'up'), 0)::text AS free
       FROM nodes GROUP BY gpu_model`,
    );
    return rows.map((row) => ({
      gpuModel: row.gpu_model,
      gpusPerNode: row.gpus_per_node,
      nodes: row.nodes,
      total: Number(row.total),
      inUse: Number(row.in_use),
      draining: Number(row.draining),
      down: Number(row.down),
      free: Number(row.free),
    }));
  }

  async queuedDemand(): Promise<ModelQueuedDemand[]> {
    const rows = await this.dataSource.manager.query<
      { gpu_model: string; queued_demand: string; queued_workloads: string }[]
    >(
      `SELECT gpu_model, sum(gpus)::text AS queued_demand, count(*)::text AS queued_workloads
       FROM workloads WHERE state = 'queued' GROUP BY gpu_model`,
    );
    return rows.map((row) => ({
      gpuModel: row.gpu_model,
      queuedDemand: Number(row.queued_demand),
      queuedWorkloads: Number(row.queued_workloads),
    }));
  }

  /** GPUs reserved at `at`, by GPU model. */
  reservedAt(at: Date): Promise<Map<string, number>> {
    return reservedGpusAt(this.dataSource.manager, at);
  }
}
