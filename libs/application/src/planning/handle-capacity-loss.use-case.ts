import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { floorSeconds } from '#domain';
import {
  NotificationsRepository,
  ReservationMovesRepository,
  ReservationPlansRepository,
  TransactionRunner,
  type AffectedReservation,
  type LostNodeRow,
  type NotificationInput,
  type Tx,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
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

interface CapacityLossOutcome {
  stats: Pick<CapacityLossStats, 'lostNodes' | 'affected' | 'moved' | 'unplaceable'>;
  notifications: number;
  deliveryIds: string[];
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
@Injectable()
export class HandleCapacityLossUseCase {
  private readonly logger = new Logger(HandleCapacityLossUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly plans: ReservationPlansRepository,
    private readonly moves: ReservationMovesRepository,
    private readonly notifications: NotificationsRepository,
    @Optional() @Inject(JobProducer) private readonly producer: JobProducer | null = null,
  ) {}

  async execute(
    gpuModel: string,
    options: { jobId?: string; clock?: () => Date } = {},
  ): Promise<CapacityLossStats> {
    const started = performance.now();
    const now = (options.clock ?? (() => new Date()))();
    const outcome = await this.transactions.run(
      async (tx) => {
        await this.plans.lockModel(tx, gpuModel);
        return this.moveOffLostNodes(tx, gpuModel, now, options.jobId ?? null);
      },
      { isolation: 'READ COMMITTED' },
    );
    const stats: CapacityLossStats = {
      gpuModel,
      ...outcome.stats,
      notifications: outcome.notifications,
      ms: Math.round(performance.now() - started),
    };
    if (stats.affected > 0) {
      await this.afterCommit(gpuModel, outcome.deliveryIds);
      this.logger.log({ jobId: options.jobId, ...stats }, 'capacity loss handled');
    }
    return stats;
  }

  private async moveOffLostNodes(
    tx: Tx,
    gpuModel: string,
    now: Date,
    jobId: string | null,
  ): Promise<CapacityLossOutcome> {
    const lostRows = await this.moves.lostNodes(tx, gpuModel, now);
    const lost: LostNode[] = lostRows.map((row) => ({
      nodeId: row.nodeId,
      lostAt: floorSeconds(row.lostAt),
      reason: row.state,
    }));
    const affected = await this.moves.lockAffected(tx, lost);
    const stats = { lostNodes: lost.length, affected: affected.length, moved: 0, unplaceable: 0 };
    if (affected.length === 0) return { stats, notifications: 0, deliveryIds: [] };

    const from = Math.min(...lost.map((node) => node.lostAt));
    const { calendar, months } = await this.moves.calendarFrom(tx, gpuModel, { from, now });
    const steps = planCapacityLoss(
      { nodes: calendar.nodes, reservations: calendar.reservations, months, enforceSectorTargets: false },
      lost,
      new Map(affected.map((line) => [line.allocationId, new Set(line.heldNodeIds)])),
    );
    const writes = capacityLossWrites(steps, {
      gpuModel,
      lines: new Map<string, AffectedReservation>(affected.map((line) => [line.allocationId, line])),
      nodes: new Map(
        calendar.nodes.map((node) => [
          node.id,
          { name: calendar.nodeNames.get(node.id) ?? node.id, clusterId: node.clusterId },
        ]),
      ),
      clusterNames: calendar.clusterNames,
      lostStates: new Map(lostRows.map((row: LostNodeRow) => [row.nodeId, row.state])),
    });
    await this.moves.record(tx, writes, jobId);
    const recorded = await this.recordNotifications(tx, writes.notifications);
    stats.moved = steps.reduce((sum, step) => sum + step.moved.length, 0);
    stats.unplaceable = steps.reduce((sum, step) => sum + step.unplaceable.length, 0);
    // Reserved nodes changed: the shared queue's next cycle must see the owners on their new nodes.
    if (writes.cuts.length > 0 || writes.adds.length > 0) await this.plans.markPartitionDirty(tx, gpuModel);
    return { stats, ...recorded };
  }

  /** Each notification once per dedupe key; counts those written and collects their deliveries. */
  private async recordNotifications(
    tx: Tx,
    notifications: readonly NotificationInput[],
  ): Promise<{ notifications: number; deliveryIds: string[] }> {
    const recorded = { notifications: 0, deliveryIds: [] as string[] };
    for (const notification of notifications) {
      const result = await this.notifications.record(tx, notification);
      if (!result) continue;
      recorded.notifications += 1;
      recorded.deliveryIds.push(...result.deliveryIds);
    }
    return recorded;
  }

  /** Webhooks and a scheduling cycle; if these fail, the webhook and workload reconcilers send them. */
  private async afterCommit(gpuModel: string, deliveryIds: readonly string[]): Promise<void> {
    if (!this.producer) return;
    const jobs: JobItem[] = [
      { name: 'schedule.cycle', data: { gpuModel } },
      ...deliveryIds.map((deliveryId): JobItem => ({ name: 'webhook.deliver', data: { deliveryId } })),
    ];
    await enqueueAfterCommit(this.producer, jobs, {
      logger: this.logger,
      recoveredBy: 'the webhook and workload reconcilers',
    });
  }
}
