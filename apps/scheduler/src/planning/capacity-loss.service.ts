import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { floorSeconds } from '#domain';
import {
  loadCapacityLossCalendar,
  loadLostNodes,
  lockAffectedReservations,
  lockPlanningModel,
  markPartitionDirty,
  recordCapacityLoss,
} from '#persistence';
import type { JobItem, JobProducer } from '#queues';
import type { Logger } from '../logger.js';
import { capacityLossWrites } from './capacity-loss-notices.js';
import { planCapacityLoss, type LostNode } from './capacity-loss-plan.js';

export interface CapacityLossStats {
  gpuModel: string;
  /** Down or draining nodes of the model. */
  lostNodes: number;
  /** Reserved lines holding a lost node after its loss (0 once every loss is handled). */
  affected: number;
  /** Lines moved to other nodes for the rest of their window. */
  moved: number;
  /** Lines that keep only their healthy servers, reported with options. */
  unplaceable: number;
  notifications: number;
  ms: number;
}

/**
 * Capacity loss (issue 7): when nodes of a GPU model go down or drain, the reservations holding them
 * move to other nodes of the model for the rest of their window, from the loss on; a line that cannot
 * move keeps its healthy servers and its owner and the admins are told the options. Runs inside the
 * model's re-plan (`planning.replan`), under the model's planning advisory lock, in one transaction:
 * load the lost nodes and the reservations holding them after their loss, let the pure planner
 * (moveOnCapacityLoss) decide, and write the spans, audit events and notifications together.
 * Idempotent: once handled, no span on a lost node runs past its loss, so a redelivered or repeated
 * run finds nothing to do and writes nothing. A node coming back up changes nothing here.
 */
export class CapacityLossService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly producer: Pick<JobProducer, 'enqueueMany'> | null,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async handle(gpuModel: string, jobId?: string): Promise<CapacityLossStats> {
    const started = performance.now();
    const now = this.clock();
    const outcome = await this.dataSource.transaction('READ COMMITTED', async (manager) => {
      await lockPlanningModel(manager, gpuModel);
      const lostRows = await loadLostNodes(manager, gpuModel, now);
      const lost: LostNode[] = lostRows.map((row) => ({
        nodeId: row.nodeId,
        lostAt: floorSeconds(row.lostAt),
        reason: row.state,
      }));
      const affected = await lockAffectedReservations(manager, lost);
      const stats = { lostNodes: lost.length, affected: affected.length, moved: 0, unplaceable: 0 };
      if (affected.length === 0) return { stats, notifications: 0, deliveryIds: [] as string[] };

      const from = Math.min(...lost.map((node) => node.lostAt));
      const { calendar, months } = await loadCapacityLossCalendar(manager, gpuModel, { from, now });
      const steps = planCapacityLoss(
        { nodes: calendar.nodes, reservations: calendar.reservations, months, enforceSectorTargets: false },
        lost,
        new Map(affected.map((line) => [line.allocationId, new Set(line.heldNodeIds)])),
      );
      const nodeOf = new Map(
        calendar.nodes.map((node) => [
          node.id,
          { name: calendar.nodeNames.get(node.id) ?? node.id, clusterId: node.clusterId },
        ]),
      );
      const writes = capacityLossWrites(steps, {
        gpuModel,
        lines: new Map(affected.map((line) => [line.allocationId, line])),
        nodes: nodeOf,
        clusterNames: calendar.clusterNames,
        lostStates: new Map(lostRows.map((row) => [row.nodeId, row.state])),
      });
      const recorded = await recordCapacityLoss(manager, writes, jobId ?? null);
      stats.moved = steps.reduce((sum, step) => sum + step.moved.length, 0);
      stats.unplaceable = steps.reduce((sum, step) => sum + step.unplaceable.length, 0);
      // Reserved nodes changed: the shared queue's next cycle must see the owners on their new nodes.
      if (writes.cuts.length > 0 || writes.adds.length > 0) await markPartitionDirty(manager, gpuModel);
      return { stats, ...recorded };
    });

    const stats: CapacityLossStats = {
      gpuModel,
      ...outcome.stats,
      notifications: outcome.notifications,
      ms: Math.round(performance.now() - started),
    };
    if (stats.affected > 0) {
      await this.afterCommit(gpuModel, outcome.deliveryIds);
      this.logger.info({ jobId, ...stats }, 'capacity loss handled');
    }
    return stats;
  }

  /** Webhooks and a scheduling cycle; if these fail, the webhook and workload reconcilers send them. */
  private async afterCommit(gpuModel: string, deliveryIds: readonly string[]): Promise<void> {
    if (!this.producer) return;
    const jobs: JobItem[] = [
      { name: 'schedule.cycle', data: { gpuModel } },
      ...deliveryIds.map((deliveryId): JobItem => ({ name: 'webhook.deliver', data: { deliveryId } })),
    ];
    await this.producer.enqueueMany(jobs).catch((error: unknown) => {
      this.logger.warn(
        { gpuModel, err: error instanceof Error ? error.message : String(error) },
        'enqueue after capacity loss failed; the reconcilers send these jobs',
      );
    });
  }
}
