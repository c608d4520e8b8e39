import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { reservedGpusAt } from '#persistence';
import type { CapacityLine, CapacityResponse } from './dto/capacity.response.js';

interface NodeFiguresRow {
  gpu_model: string;
  gpus_per_node: number;
  nodes: number;
  total: string;
  in_use: string;
  draining: string;
  down: string;
  free: string;
}

interface DemandRow {
  gpu_model: string;
  queued_demand: string;
  queued_workloads: string;
}

/**
 * Capacity per GPU model, computed by PostgreSQL (GROUP BY queries over indexed columns): the
 * 6,250 node rows of the national pool never travel to the API. The sums are bigint in SQL and
 * become numbers here: GPU counts stay far below 2^53.
 */
@Injectable()
export class CapacityService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async capacity(now: Date = new Date()): Promise<CapacityResponse> {
    const manager = this.dataSource.manager;
    const nodeRows = await manager.query<NodeFiguresRow[]>(
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
    const demandRows = await manager.query<DemandRow[]>(
      `SELECT gpu_model, sum(gpus)::text AS queued_demand, count(*)::text AS queued_workloads
       FROM workloads WHERE state = 'queued' GROUP BY gpu_model`,
    );
    const reserved = await reservedGpusAt(manager, now);
    const lines = new Map<string, CapacityLine>();
    const lineOf = (gpuModel: string): CapacityLine => {
      let line = lines.get(gpuModel);
      if (!line) {
        line = {
          gpuModel,
          gpusPerNode: 0,
          nodes: 0,
          total: 0,
          inUse: 0,
          reserved: 0,
          draining: 0,
          down: 0,
          free: 0,
          queuedDemand: 0,
          queuedWorkloads: 0,
        };
        lines.set(gpuModel, line);
      }
      return line;
    };
    for (const row of nodeRows) {
      Object.assign(lineOf(row.gpu_model), {
        gpusPerNode: row.gpus_per_node,
        nodes: row.nodes,
        total: Number(row.total),
        inUse: Number(row.in_use),
        draining: Number(row.draining),
        down: Number(row.down),
        free: Number(row.free),
        reserved: reserved.get(row.gpu_model) ?? 0,
      });
    }
    // Demand for a model the pool has no node of is shown too: it can only wait.
    for (const row of demandRows) {
      Object.assign(lineOf(row.gpu_model), {
        queuedDemand: Number(row.queued_demand),
        queuedWorkloads: Number(row.queued_workloads),
      });
    }
    const models = [...lines.values()].sort((a, b) => a.gpuModel.localeCompare(b.gpuModel));
    const sum = (pick: (line: CapacityLine) => number) =>
      models.reduce((total, line) => total + pick(line), 0);
    return {
      models,
      totals: {
        nodes: sum((line) => line.nodes),
        total: sum((line) => line.total),
        inUse: sum((line) => line.inUse),
        reserved: sum((line) => line.reserved),
        draining: sum((line) => line.draining),
        down: sum((line) => line.down),
        free: sum((line) => line.free),
        queuedDemand: sum((line) => line.queuedDemand),
        queuedWorkloads: sum((line) => line.queuedWorkloads),
      },
      at: now.toISOString(),
    };
  }
}
