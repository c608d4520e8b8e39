import { Injectable } from '@nestjs/common';
import { CapacityRepository, type ModelNodeFigures, type ModelQueuedDemand } from '#persistence';

export interface CapacityLineView {
  gpuModel: string;
  gpusPerNode: number;
  nodes: number;
  total: number;
  inUse: number;
  reserved: number;
  draining: number;
  down: number;
  free: number;
  queuedDemand: number;
  queuedWorkloads: number;
}

export type CapacityTotalsView = Omit<CapacityLineView, 'gpuModel' | 'gpusPerNode'>;

export interface CapacityView {
  models: CapacityLineView[];
  totals: CapacityTotalsView;
  at: string;
}

/** Capacity per GPU model and in total, with the queued demand waiting for it. */
@Injectable()
export class CapacityQueries {
  constructor(private readonly capacity: CapacityRepository) {}

  async capacityAt(now: Date = new Date()): Promise<CapacityView> {
    const nodeFigures = await this.capacity.nodeFigures();
    const demand = await this.capacity.queuedDemand();
    const reserved = await this.capacity.reservedAt(now);
    return capacityViewOf(nodeFigures, demand, reserved, now);
  }
}

/** The lines by model name, and their sums. */
export function capacityViewOf(
  nodeFigures: ModelNodeFigures[],
  demand: ModelQueuedDemand[],
  reserved: Map<string, number>,
  now: Date,
): CapacityView {
  const lines = new Map<string, CapacityLineView>();
  const lineOf = (gpuModel: string): CapacityLineView => {
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
  for (const figures of nodeFigures) {
    Object.assign(lineOf(figures.gpuModel), {
      gpusPerNode: figures.gpusPerNode,
      nodes: figures.nodes,
      total: figures.total,
      inUse: figures.inUse,
      draining: figures.draining,
      down: figures.down,
      free: figures.free,
      reserved: reserved.get(figures.gpuModel) ?? 0,
    });
  }
  // Demand for a model the pool has no node of is shown too: it can only wait.
  for (const row of demand) {
    Object.assign(lineOf(row.gpuModel), {
      queuedDemand: row.queuedDemand,
      queuedWorkloads: row.queuedWorkloads,
    });
  }
  const models = [...lines.values()].sort((a, b) => a.gpuModel.localeCompare(b.gpuModel));
  const sum = (pick: (line: CapacityLineView) => number) =>
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
