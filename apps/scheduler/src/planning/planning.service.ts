import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { planReservations, type RequestOutcome } from '#domain';
import {
  loadPlanningInputs,
  loadPlanningQueue,
  lockPlanningModel,
  markPartitionDirty,
  planStatusOf,
  queuedLineRequest,
  recordPlacements,
  recordWaitlisted,
  type PlacementRecord,
  type QueuedReservedLine,
  type WaitlistRecord,
} from '#persistence';
import type { JobProducer } from '#queues';
import type { Logger } from '../logger.js';
import { CapacityLossService, type CapacityLossStats } from './capacity-loss.service.js';

export interface PlanningRunStats {
  outcome: 'planned';
  gpuModel: string;
  /** Lines considered: the model's pending and waitlisted plans. */
  queued: number;
  placed: number;
  waitlisted: number;
  /** Waitlisted lines whose offer or sentence changed (and so were written). */
  waitlistChanged: number;
  /** The pure planner's time; `ms` is the whole run (locks, loads, writes, commit). */
  planningMs: number;
  ms: number;
  /** `planning.replan` only: reservations moved off down or draining nodes before planning. */
  capacityLoss?: CapacityLossStats;
}

export type PlanningResult = PlanningRunStats | { outcome: 'not_pending' | 'no_plan'; allocationId: string };

/** A waitlist code of gpupool's own, for a line the planner is not asked about. */
const ALLOCATION_NOT_ACTIVE = 'ALLOCATION_NOT_ACTIVE';

/**
 * Places reserved allocations on the capacity calendar. One run plans a GPU model's whole queue —
 * every pending and waitlisted plan, in approval order — in one PostgreSQL transaction under the
 * model's advisory lock: the queue, nodes, existing reservations and sector targets are loaded, the
 * pure planner (libs/domain) decides, and placements and waitlist changes are written together.
 * Already placed lines never move. Idempotent: `plan` leaves a plan that is no longer pending alone,
 * and a re-plan that changes nothing writes nothing.
 */
export class PlanningService {
  private readonly capacityLoss: CapacityLossService;

  constructor(
    private readonly dataSource: DataSource,
    private readonly producer: Pick<JobProducer, 'enqueue' | 'enqueueMany'> | null,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.capacityLoss = new CapacityLossService(dataSource, producer, logger, clock);
  }

  /** `planning.plan`: plans the allocation's GPU model if its plan is still pending. */
  async plan(allocationId: string, jobId?: string): Promise<PlanningResult> {
    const plan = await planStatusOf(this.dataSource.manager, allocationId);
    if (!plan) return { outcome: 'no_plan', allocationId };
    if (plan.status !== 'pending') return { outcome: 'not_pending', allocationId };
    const result = await this.run(plan.gpuModel, jobId, allocationId);
    return result ?? { outcome: 'not_pending', allocationId };
  }

  /**
   * `planning.replan`: first moves reservations off the model's down or draining nodes (its own
   * transaction; capacity-loss.service.ts), then plans the GPU model's queue on what is left,
   * whatever triggered it. A failed move still lets the queue be planned (lost nodes are unavailable
   * to it either way), then fails the job so it is retried.
   */
  async replan(gpuModel: string, jobId?: string): Promise<PlanningRunStats> {
    const loss = await this.capacityLoss.handle(gpuModel, jobId).then(
      (capacityLoss) => ({ capacityLoss, error: null }),
      (error: unknown) => ({ capacityLoss: null, error }),
    );
    const stats = (await this.run(gpuModel, jobId)) as PlanningRunStats;
    if (loss.capacityLoss === null) {
      throw loss.error instanceof Error ? loss.error : new Error(String(loss.error));
    }
    return { ...stats, capacityLoss: loss.capacityLoss };
  }

  /** Null when `mustBePending` was decided by a run that held the lock first. */
  private async run(
    gpuModel: string,
    jobId: string | undefined,
    mustBePending?: string,
  ): Promise<PlanningRunStats | null> {
    const started = performance.now();
    const stats = await this.dataSource.transaction('READ COMMITTED', async (manager) => {
      await lockPlanningModel(manager, gpuModel);
      const queue = await loadPlanningQueue(manager, [gpuModel], { lock: true });
      if (
        mustBePending !== undefined &&
        !queue.some((line) => line.allocationId === mustBePending && line.planStatus === 'pending')
      ) {
        return null;
      }
      if (queue.length === 0) {
        return {
          outcome: 'planned' as const,
          gpuModel,
          queued: 0,
          placed: 0,
          waitlisted: 0,
          waitlistChanged: 0,
          planningMs: 0,
          ms: 0,
        };
      }
      const active = queue.filter((line) => line.allocationStatus === 'active');
      const requests = active.map((line, index) => queuedLineRequest(line, index));
      const { input } = await loadPlanningInputs(manager, [gpuModel], requests, this.clock());
      const planStarted = performance.now();
      const plan = planReservations(input);
      const planningMs = performance.now() - planStarted;

      const placements: PlacementRecord[] = [];
      const waitlisted: WaitlistRecord[] = [];
      for (const outcome of plan.outcomes) collect(outcome, placements, waitlisted);
      for (const line of queue) {
        if (line.allocationStatus === 'active') continue;
        waitlisted.push({
          allocationId: line.allocationId,
          earliestFeasibleStart: null,
          code: ALLOCATION_NOT_ACTIVE,
          reason: `The allocation is ${line.allocationStatus}, so it is not placed on the calendar; once it is active again the next re-plan of the ${gpuModel} waitlist considers it.`,
        });
      }
      const byId = new Map<string, QueuedReservedLine>(queue.map((line) => [line.allocationId, line]));
      await recordPlacements(manager, placements, jobId ?? null);
      const waitlistChanged = await recordWaitlisted(manager, waitlisted, byId, jobId ?? null);
      // Reserved nodes changed: the shared queue's next cycle must see them taken.
      if (placements.length > 0) await markPartitionDirty(manager, gpuModel);
      return {
        outcome: 'planned' as const,
        gpuModel,
        queued: queue.length,
        placed: placements.length,
        waitlisted: waitlisted.length,
        waitlistChanged,
        planningMs: Math.round(planningMs),
        ms: 0,
      };
    });
    if (stats === null) return null;
    stats.ms = Math.round(performance.now() - started);
    if (stats.placed > 0 && this.producer) {
      await this.producer.enqueue({ name: 'schedule.cycle', data: { gpuModel } }).catch((error: unknown) => {
        // The partition is marked dirty in PostgreSQL; the workload reconciler's tick runs it.
        this.logger.warn(
          { gpuModel, err: error instanceof Error ? error.message : String(error) },
          'schedule.cycle enqueue after planning failed',
        );
      });
    }
    this.logger.info({ jobId, ...stats }, 'planning run done');
    return stats;
  }
}

function collect(outcome: RequestOutcome, placements: PlacementRecord[], waitlisted: WaitlistRecord[]): void {
  switch (outcome.status) {
    case 'placed':
      placements.push({
        allocationId: outcome.lineId,
        gpuModel: outcome.gpuModel,
        clusterId: outcome.clusterId,
        nodeIds: outcome.nodeIds,
        start: outcome.start,
        end: outcome.end,
      });
      return;
    case 'waitlisted':
      waitlisted.push({
        allocationId: outcome.lineId,
        earliestFeasibleStart: outcome.earliestFeasibleStart,
        code: outcome.code,
        reason: outcome.reason,
      });
      return;
  }
}
