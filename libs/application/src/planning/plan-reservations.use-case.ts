import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { planReservations, type RequestOutcome } from '#domain';
import {
  queuedLineRequest,
  ReservationPlansRepository,
  TransactionRunner,
  type PlacementRecord,
  type QueuedReservedLine,
  type Tx,
  type WaitlistRecord,
} from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { HandleCapacityLossUseCase, type CapacityLossStats } from './handle-capacity-loss.use-case.js';

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

/** A planning job's context: its id (recorded on audit events) and, in tests, the clock. */
export interface PlanningRunOptions {
  jobId?: string;
  clock?: () => Date;
}

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
@Injectable()
export class PlanReservationsUseCase {
  private readonly logger = new Logger(PlanReservationsUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly plans: ReservationPlansRepository,
    private readonly capacityLoss: HandleCapacityLossUseCase,
    @Optional() @Inject(JobProducer) private readonly producer: JobProducer | null = null,
  ) {}

  /** `planning.plan`: plans the allocation's GPU model if its plan is still pending. */
  async plan(allocationId: string, options: PlanningRunOptions = {}): Promise<PlanningResult> {
    const plan = await this.plans.planStatusOf(allocationId);
    if (!plan) return { outcome: 'no_plan', allocationId };
    if (plan.status !== 'pending') return { outcome: 'not_pending', allocationId };
    const result = await this.run(plan.gpuModel, options, allocationId);
    return result ?? { outcome: 'not_pending', allocationId };
  }

  /**
   * `planning.replan`: first moves reservations off the model's down or draining nodes (its own
   * transaction; HandleCapacityLossUseCase), then plans the GPU model's queue on what is left,
   * whatever triggered it. A failed move still lets the queue be planned (lost nodes are unavailable
   * to it either way), then fails the job so it is retried.
   */
  async replan(gpuModel: string, options: PlanningRunOptions = {}): Promise<PlanningRunStats> {
    const loss = await this.capacityLoss.execute(gpuModel, options).then(
      (capacityLoss) => ({ capacityLoss, error: null }),
      (error: unknown) => ({ capacityLoss: null, error }),
    );
    const stats = (await this.run(gpuModel, options)) as PlanningRunStats;
    if (loss.capacityLoss === null) {
      throw loss.error instanceof Error ? loss.error : new Error(String(loss.error));
    }
    return { ...stats, capacityLoss: loss.capacityLoss };
  }

  /** Null when `mustBePending` was decided by a run that held the lock first. */
  private async run(
    gpuModel: string,
    options: PlanningRunOptions,
    mustBePending?: string,
  ): Promise<PlanningRunStats | null> {
    const started = performance.now();
    const stats = await this.transactions.run(
      async (tx) => {
        await this.plans.lockModel(tx, gpuModel);
        const queue = await this.plans.queue(tx, [gpuModel], { lock: true });
        if (
          mustBePending !== undefined &&
          !queue.some((line) => line.allocationId === mustBePending && line.planStatus === 'pending')
        ) {
          return null;
        }
        if (queue.length === 0) return emptyRun(gpuModel);
        return this.planQueue(tx, gpuModel, queue, options);
      },
      { isolation: 'READ COMMITTED' },
    );
    if (stats === null) return null;
    stats.ms = Math.round(performance.now() - started);
    if (stats.placed > 0 && this.producer) {
      // The partition is marked dirty in PostgreSQL; the workload reconciler's tick runs it.
      await enqueueAfterCommit(
        this.producer,
        { name: 'schedule.cycle', data: { gpuModel } },
        { logger: this.logger, recoveredBy: 'the workload reconciler' },
      );
    }
    this.logger.log({ jobId: options.jobId, ...stats }, 'planning run done');
    return stats;
  }

  /** Plans the model's locked queue and writes placements and waitlist changes. */
  private async planQueue(
    tx: Tx,
    gpuModel: string,
    queue: QueuedReservedLine[],
    options: PlanningRunOptions,
  ): Promise<PlanningRunStats> {
    const active = queue.filter((line) => line.allocationStatus === 'active');
    const requests = active.map((line, index) => queuedLineRequest(line, index));
    const now = (options.clock ?? (() => new Date()))();
    const { input } = await this.plans.inputs(tx, [gpuModel], requests, now);
    const planStarted = performance.now();
    const plan = planReservations(input);
    const planningMs = performance.now() - planStarted;

    const { placements, waitlisted } = planWrites(plan.outcomes, queue, gpuModel);
    const byId = new Map<string, QueuedReservedLine>(queue.map((line) => [line.allocationId, line]));
    const jobId = options.jobId ?? null;
    await this.plans.recordPlacements(tx, placements, jobId);
    const waitlistChanged = await this.plans.recordWaitlisted(tx, waitlisted, byId, jobId);
    // Reserved nodes changed: the shared queue's next cycle must see them taken.
    if (placements.length > 0) await this.plans.markPartitionDirty(tx, gpuModel);
    return {
      outcome: 'planned',
      gpuModel,
      queued: queue.length,
      placed: placements.length,
      waitlisted: waitlisted.length,
      waitlistChanged,
      planningMs: Math.round(planningMs),
      ms: 0,
    };
  }
}

function emptyRun(gpuModel: string): PlanningRunStats {
  return {
    outcome: 'planned',
    gpuModel,
    queued: 0,
    placed: 0,
    waitlisted: 0,
    waitlistChanged: 0,
    planningMs: 0,
    ms: 0,
  };
}

/**
 * What a run writes: the planner's placements and waitlist entries, and a waitlist entry for each
 * queued line whose allocation is not active (the planner is not asked about those).
 */
export function planWrites(
  outcomes: readonly RequestOutcome[],
  queue: readonly QueuedReservedLine[],
  gpuModel: string,
): { placements: PlacementRecord[]; waitlisted: WaitlistRecord[] } {
  const placements: PlacementRecord[] = [];
  const waitlisted: WaitlistRecord[] = [];
  for (const outcome of outcomes) {
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
        break;
      case 'waitlisted':
        waitlisted.push({
          allocationId: outcome.lineId,
          earliestFeasibleStart: outcome.earliestFeasibleStart,
          code: outcome.code,
          reason: outcome.reason,
        });
        break;
    }
  }
  for (const line of queue) {
    if (line.allocationStatus === 'active') continue;
    waitlisted.push({
      allocationId: line.allocationId,
      earliestFeasibleStart: null,
      code: ALLOCATION_NOT_ACTIVE,
      reason: `The allocation is ${line.allocationStatus}, so it is not placed on the calendar; once it is active again the next re-plan of the ${gpuModel} waitlist considers it.`,
    });
  }
  return { placements, waitlisted };
}
