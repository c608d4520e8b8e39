import { Injectable } from '@nestjs/common';
import { isActiveWorkloadState, isLostRun, isUnconfirmedRun, lostRunSeconds } from '#domain';
import {
  AgentHeartbeatRepository,
  PartitionRepository,
  TransactionRunner,
  WorkloadRepository,
  type AttemptRef,
  type RunConfirmation,
  type Tx,
  type WorkloadEntity,
} from '#persistence';
import { EndAttemptUseCase } from './end-attempt.use-case.js';
import type { StoppedAttempt } from './stop-allocation-workloads.use-case.js';

/** Lost runs end with one of these reasons (their usage refunded: the infrastructure lost them). */
export const LOST_RUN_REASON = 'lost: no end report within walltime';
export const UNCONFIRMED_RUN_REASON = 'lost: the cluster agent stopped confirming the run';
export const FORGOTTEN_RUN_REASON = 'lost: the cluster agent restarted without it';

export interface LostRunSweep {
  /** A dispatched attempt with no end report this long after its walltime is lost. */
  graceMs: number;
  /** On clusters whose agent sends heartbeats, an attempt unconfirmed this long is lost (null: off). */
  heartbeatTimeoutMs: number | null;
  /** Candidates per kind and sweep (the next sweep takes the rest). */
  limit: number;
}

/** Decides, under the locks, whether a locked candidate is still lost: its end reason, or null. */
type LostCheck = (workload: WorkloadEntity, at: Date) => string | null;

/**
 * Ends dispatched attempts the infrastructure lost, with their usage refunded and their hold
 * released at once (closeAttemptHold), and requeues their workloads with their age up to the
 * program's limit, else fails them (EndAttemptUseCase.failForInfrastructure): runs whose walltime passed long ago with no end report
 * (the cluster died), runs a heartbeating agent stopped confirming (the agent died), and runs an
 * agent that restarted no longer has (its resync). One READ COMMITTED transaction per partition;
 * the caller tells the clusters to stop what this returns (dispatch.cancel).
 *
 * Locks per partition, in order: the partition advisory lock, then (the candidates re-read under it
 * and their rows locked in id order) for each what EndAttemptUseCase.endWorkload takes. The
 * confirmations are read without a lock: heartbeats lock no workload row.
 */
@Injectable()
export class EndLostRunsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly endAttempt: EndAttemptUseCase,
    private readonly heartbeats: AgentHeartbeatRepository,
  ) {}

  /** The reconciler's sweep: overdue runs, and unconfirmed ones. Per partition, in sweep order. */
  async execute(options: LostRunSweep): Promise<Map<string, StoppedAttempt[]>> {
    const timeoutMs = options.heartbeatTimeoutMs;
    const candidates = [
      ...(await this.workloads.overdueAttempts(options.graceMs, options.limit)),
      ...(timeoutMs === null ? [] : await this.heartbeats.unconfirmedAttempts(timeoutMs, options.limit)),
    ];
    return this.endLost(candidates, async (tx, ids) => {
      const confirmations =
        timeoutMs === null
          ? new Map<string, RunConfirmation>()
          : await this.heartbeats.confirmationsOf(tx, ids);
      return (workload, at) => {
        if (isLostRun(workload, at, options.graceMs)) return LOST_RUN_REASON;
        if (timeoutMs !== null && isUnconfirmedRun(workload, confirmations.get(workload.id), at, timeoutMs))
          return UNCONFIRMED_RUN_REASON;
        return null;
      };
    });
  }

  /**
   * A restarted agent's resync: ends the started attempts it no longer has (found by the caller).
   * An attempt is ended only if, under the lock, it is still that attempt and still active.
   */
  endForgotten(candidates: readonly AttemptRef[]): Promise<Map<string, StoppedAttempt[]>> {
    const wanted = new Map(candidates.map((ref) => [ref.id, ref.attempt]));
    return this.endLost(candidates, () =>
      Promise.resolve((workload: WorkloadEntity) =>
        isActiveWorkloadState(workload.state) &&
        workload.startedAt !== null &&
        wanted.get(workload.id) === workload.attempt
          ? FORGOTTEN_RUN_REASON
          : null,
      ),
    );
  }

  private async endLost(
    candidates: readonly AttemptRef[],
    checkFor: (tx: Tx, ids: string[]) => Promise<LostCheck>,
  ): Promise<Map<string, StoppedAttempt[]>> {
    const byModel = new Map<string, Set<string>>();
    for (const row of candidates)
      byModel.set(row.gpuModel, (byModel.get(row.gpuModel) ?? new Set()).add(row.id));

    const ended = new Map<string, StoppedAttempt[]>();
    for (const [gpuModel, idSet] of byModel) {
      const ids = [...idSet];
      const done = await this.transactions.run(
        async (tx) => {
          await this.partitions.lock(tx, gpuModel);
          const at = await this.workloads.databaseNow(tx);
          // Re-read under the lock: an end report or a heartbeat may have landed since.
          const locked = await this.workloads.lockByIds(tx, ids);
          const check = await checkFor(tx, ids);
          const lost = locked.flatMap((workload) => {
            const reason = check(workload, at);
            return reason === null ? [] : [{ workload, reason }];
          });
          await this.endAttempt.lockQuotas(
            tx,
            lost.map((entry) => entry.workload),
          );
          const stopped: StoppedAttempt[] = [];
          for (const { workload, reason } of lost) {
            // Whatever the cluster meters for it is refunded (the infrastructure lost the run), so
            // its hold is released at once rather than kept for that meter.
            // The workload is requeued with its age while its program allows.
            const outcome = await this.endAttempt.failForInfrastructure(tx, workload, {
              reason,
              runtimeSeconds: lostRunSeconds(workload, at),
              at,
            });
            if (outcome !== null) {
              stopped.push({ workloadId: workload.id, attempt: workload.attempt, gpuModel, reason, outcome });
            }
          }
          return stopped;
        },
        { isolation: 'READ COMMITTED' },
      );
      ended.set(gpuModel, done);
    }
    return ended;
  }
}
