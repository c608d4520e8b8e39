import { allocationAccount, holdTransaction } from '#domain';
import {
  LedgerRepository,
  PartitionSnapshotRepository,
  SchedulingCycleRepository,
  TransactionRunner,
  type CyclePlacementRow,
  type CycleWaitingRow,
  type Tx,
} from '#persistence';
import type { EndAttemptUseCase } from '#application';
import type { JobItem, JobProducer } from '#queues';
import type { Logger } from '../logger.js';
import { loadPartition, type LoadedPartition } from './partition-loader.js';
import type {
  Admission,
  CycleDecision,
  SchedulingCycle,
  SchedulingSettings,
  Waiting,
} from './scheduling-contract.js';

export interface CycleStats {
  outcome: 'ran';
  /** Cycles run by this job: more than one when the partition was dirtied while a cycle ran. */
  rounds: number;
  admitted: number;
  preempted: number;
  /** Queued workloads left waiting after the last round. */
  waiting: number;
  /** Wall time of the whole job, all rounds, commits and enqueues included. */
  ms: number;
  /** Where the last round's time went: loading, the pure cycle, persisting (before commit). */
  phases: { loadMs: number; decideMs: number; persistMs: number };
  /** True when the partition was still dirty after the last round (the periodic tick runs it). */
  leftDirty: boolean;
}

export type CycleResult = CycleStats | { outcome: 'busy' };

export interface CycleServiceOptions {
  settings: SchedulingSettings;
  /** Rounds per job while the partition keeps being dirtied; after that the tick takes over. */
  maxRounds?: number;
  /**
   * How long a round waits for the partition lock when the first try finds it taken. Ends, cancels
   * and drains hold it for milliseconds; a trigger they send while this job is active is coalesced
   * into it, so giving up at once would leave their change to the periodic tick. Another cycle
   * holding it longer than this makes the job return 'busy' (that cycle sees the dirty flag).
   */
  lockWaitMs?: number;
}

interface RoundResult {
  admitted: number;
  preempted: number;
  waiting: number;
  dirty: boolean;
  jobs: JobItem[];
  phases: CycleStats['phases'];
}

/**
 * The admission loop of one GPU-model partition. A round is one PostgreSQL transaction: take the
 * partition lock (or leave after a bounded wait: another cycle has it), load the partition, run the pure cycle,
 * persist every decision (preemptions, placements, node capacity, holds, waiting info, partition
 * bookkeeping), commit. Only then are the dispatch and cancel jobs sent: a job never refers to a
 * decision that could still roll back, and one that Redis loses is re-sent by the reconciler.
 */
export class CycleService {
  private readonly maxRounds: number;
  private readonly lockWaitMs: number;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly rounds: SchedulingCycleRepository,
    private readonly snapshots: PartitionSnapshotRepository,
    private readonly ledger: LedgerRepository,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly cycle: SchedulingCycle,
    private readonly options: CycleServiceOptions,
    private readonly endAttempt: EndAttemptUseCase,
  ) {
    this.maxRounds = options.maxRounds ?? 5;
    this.lockWaitMs = options.lockWaitMs ?? 2000;
  }

  async runCycle(gpuModel: string): Promise<CycleResult> {
    const started = Date.now();
    const stats: CycleStats = {
      outcome: 'ran',
      rounds: 0,
      admitted: 0,
      preempted: 0,
      waiting: 0,
      ms: 0,
      leftDirty: false,
      phases: { loadMs: 0, decideMs: 0, persistMs: 0 },
    };
    for (let round = 0; round < this.maxRounds; round += 1) {
      const result = await this.runRound(gpuModel);
      if (result === 'busy') {
        if (stats.rounds === 0) return { outcome: 'busy' };
        // Another process took the partition between our rounds: it sees the dirty flag.
        break;
      }
      stats.rounds += 1;
      stats.admitted += result.admitted;
      stats.preempted += result.preempted;
      stats.waiting = result.waiting;
      stats.leftDirty = result.dirty;
      stats.phases = result.phases;
      if (result.jobs.length > 0) await this.producer.enqueueMany(result.jobs);
      // A trigger that committed after the round's last look (its job was dropped as a duplicate
      // of this running one) is caught here, after our commit.
      if (!result.dirty && !(await this.rounds.isDirty(gpuModel))) break;
      stats.leftDirty = true;
    }
    stats.ms = Date.now() - started;
    if (stats.leftDirty) {
      this.logger.info({ gpuModel, rounds: stats.rounds }, 'partition still dirty: left for the tick');
    }
    return stats;
  }

  private async runRound(gpuModel: string): Promise<RoundResult | 'busy'> {
    return this.transactions.run(
      async (manager) => {
        if (!(await this.rounds.lock(manager, gpuModel, this.lockWaitMs))) return 'busy';
        // The triggers this round answers; any committed from now on make the partition dirty again.
        await this.rounds.consumeTriggers(manager, gpuModel);
        const roundStarted = Date.now();
        // The database clock: the instant the cycle decides at.
        const clock = await this.rounds.clock(manager);
        const loaded = await loadPartition(
          this.snapshots,
          manager,
          gpuModel,
          clock.now,
          this.options.settings,
        );
        const loadedAt = Date.now();
        const decision = this.cycle(loaded.snapshot);
        const decidedAt = Date.now();
        const jobs: JobItem[] = [];
        const waiting = this.changedWaiting(decision.waiting, loaded);
        await this.lockRows(manager, decision, waiting, loaded);
        const preempted = await this.persistPreemptions(manager, decision, loaded, clock.now, jobs);
        const admitted = await this.persistAdmissions(manager, decision.admitted, loaded, clock.now, jobs);
        await this.rounds.updateWaiting(manager, waiting);
        const dirty = await this.finishPartition(manager, gpuModel, clock.at, Date.now() - roundStarted);
        const phases = {
          loadMs: loadedAt - roundStarted,
          decideMs: decidedAt - loadedAt,
          persistMs: Date.now() - decidedAt,
        };
        return { admitted, preempted, waiting: decision.waiting.length, dirty, jobs, phases };
      },
      { isolation: 'READ COMMITTED' },
    );
  }

  /**
   * Preempted attempts end (their hold closed and their usage refunded) and requeue with their age.
   * They go first: the GPUs they free may be what this round's admissions are placed on.
   */
  private async persistPreemptions(
    manager: Tx,
    decision: CycleDecision,
    loaded: LoadedPartition,
    now: Date,
    jobs: JobItem[],
  ): Promise<number> {
    if (decision.preempted.length === 0) return 0;
    const ids = decision.preempted.map((preemption) => preemption.workloadId);
    const rows = await this.rounds.workloads(manager, ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const preemption of decision.preempted) {
      const workload = byId.get(preemption.workloadId);
      const attempt = loaded.runningAttempt.get(preemption.workloadId);
      if (
        !workload ||
        attempt === undefined ||
        workload.attempt !== attempt ||
        (workload.state !== 'admitted' && workload.state !== 'running')
      ) {
        throw new Error(`cycle preempted ${preemption.workloadId}, which is not admitted or running`);
      }
      const reason = preemption.reclaimedForAllocationId
        ? `preempted: lent from reserved servers, reclaimed by their owner (allocation ${preemption.reclaimedForAllocationId})`
        : `preempted: program ${preemption.forProgramId} needs its entitled share`;
      await this.endAttempt.requeueWorkload(manager, workload, reason, now);
      jobs.push({ name: 'dispatch.cancel', data: { workloadId: workload.id, attempt, reason } });
    }
    return decision.preempted.length;
  }

  /**
   * Admissions in a handful of set-based statements: the state change (guarded by state and
   * attempt), the placements, the node counters (the CHECK refuses any over-booking), then one hold
   * per admission (all in one batch), and a last look at the balances of every allocation that just held.
   */
  private async persistAdmissions(
    manager: Tx,
    admissions: Admission[],
    loaded: LoadedPartition,
    now: Date,
    jobs: JobItem[],
  ): Promise<number> {
    if (admissions.length === 0) return 0;
    const attempts = admissions.map((admission) => {
      const meta = loaded.queuedMeta.get(admission.workloadId);
      if (!meta) throw new Error(`cycle admitted ${admission.workloadId}, which is not queued`);
      return meta.attempt;
    });
    const rows = admissions.map((admission, index) => {
      const allocationId = loaded.allocationOf.get(admission.workloadId);
      if (!allocationId) throw new Error(`no allocation for workload ${admission.workloadId}`);
      return {
        workloadId: admission.workloadId,
        borrowed: admission.borrowed,
        holdGpuSeconds: admission.holdGpuSeconds,
        attempt: attempts[index] ?? 0,
        allocationId,
      };
    });
    const updated = await this.rounds.admit(manager, now, rows);
    if (updated.length !== admissions.length) {
      // Everything that ends a queued workload takes the partition lock we hold, so this is a writer
      // that skipped it. Roll back the round; the job's retry loads the partition again.
      throw new Error(
        `cycle admitted ${admissions.length} workloads but only ${updated.length} were still queued`,
      );
    }

    const placements: CyclePlacementRow[] = admissions.flatMap((admission) =>
      admission.placement.map((part) => ({
        workloadId: admission.workloadId,
        nodeId: part.nodeId,
        gpus: part.gpus,
      })),
    );
    const nodesUpdated = await this.rounds.place(manager, placements);
    if (nodesUpdated !== new Set(placements.map((part) => part.nodeId)).size) {
      throw new Error('cycle placed workloads on nodes that do not exist');
    }

    const holds = rows.map((row) => {
      jobs.push({ name: 'dispatch.workload', data: { workloadId: row.workloadId, attempt: row.attempt } });
      return holdTransaction({
        allocationId: row.allocationId,
        workloadId: row.workloadId,
        attempt: row.attempt,
        gpuSeconds: row.holdGpuSeconds,
      });
    });
    const alreadyHeld = await this.ledger.postMany(manager, holds);
    if (alreadyHeld.length > 0) {
      // A queued attempt that already holds quota would be admitted twice: never post over it.
      throw new Error(`admission attempts already hold quota: ${alreadyHeld.slice(0, 5).join(', ')}`);
    }
    // The attempts' holds, which usage records draw on (see closeAttemptHold).
    await this.rounds.insertHolds(manager, now, rows);
    await this.assertNoOverdraft(manager, admissions, loaded);
    return admissions.length;
  }

  /** Invariant 2: a hold never takes an allocation below zero. If it would, the cycle is wrong. */
  private async assertNoOverdraft(
    manager: Tx,
    admissions: Admission[],
    loaded: LoadedPartition,
  ): Promise<void> {
    const allocationIds = [
      ...new Set(admissions.map((admission) => loaded.allocationOf.get(admission.workloadId) ?? '')),
    ];
    const negative = await this.rounds.negativeBalances(
      manager,
      allocationIds.map((id) => allocationAccount(id)),
    );
    if (negative.length > 0) {
      throw new Error(
        `cycle would over-hold: ${negative.map((row) => `${row.account} = ${row.balance}`).join(', ')}`,
      );
    }
  }

  /**
   * Every queued workload says why it waits. Positions and estimates are kept for the first
   * `detailedPositions` of the queue; deeper ones keep their reason with a generic sentence, so a
   * cycle over 100,000 queued workloads rewrites only what really changed (not every row whose
   * "N ahead" moved by one). Returns the rows to rewrite (one UPDATE, after the admissions).
   */
  private changedWaiting(waiting: Waiting[], loaded: LoadedPartition): CycleWaitingRow[] {
    const limit = this.options.settings.estimateLimit;
    const shown = waiting.map((wait) =>
      wait.position <= limit
        ? wait
        : { ...wait, position: null, estimatedStartAt: null, detail: deepQueueDetail(wait.reason, limit) },
    );
    return shown.filter((wait) => {
      const meta = loaded.queuedMeta.get(wait.workloadId);
      if (!meta) return false;
      return (
        meta.waitReason !== wait.reason ||
        meta.waitDetail !== wait.detail ||
        meta.queuePosition !== wait.position ||
        meta.estimatedStartAt !== (wait.estimatedStartAt ? wait.estimatedStartAt.getTime() : null)
      );
    });
  }

  /**
   * The round's row locks, taken before its first write in the lock order of docs/ARCHITECTURE.md:
   * every workload row it writes (preempted, admitted, re-explained) in id order in one statement,
   * then the balances of every allocation it posts for. Taken one write at a time they deadlocked
   * against usage postings, which lock workload rows before holds and balances (issue 13 item 1).
   */
  private async lockRows(
    manager: Tx,
    decision: CycleDecision,
    waiting: CycleWaitingRow[],
    loaded: LoadedPartition,
  ): Promise<void> {
    const preempted = decision.preempted.map((preemption) => preemption.workloadId);
    await this.rounds.lockWorkloads(manager, [
      ...preempted,
      ...decision.admitted.map((admission) => admission.workloadId),
      ...waiting.map((wait) => wait.workloadId),
    ]);
    const allocations = new Set<string>();
    for (const row of await this.rounds.workloads(manager, preempted)) allocations.add(row.allocationId);
    for (const admission of decision.admitted) {
      const allocationId = loaded.allocationOf.get(admission.workloadId);
      if (allocationId) allocations.add(allocationId);
    }
    await this.ledger.lockAllocationAccounts(manager, [...allocations]);
  }

  /** Bookkeeping, and the answer to "run again?": a trigger committed while this round ran. */
  private async finishPartition(
    manager: Tx,
    gpuModel: string,
    roundStartedAt: string,
    cycleMs: number,
  ): Promise<boolean> {
    await this.rounds.recordCycle(manager, gpuModel, roundStartedAt, cycleMs);
    return this.rounds.isDirty(gpuModel, manager);
  }
}

/** The wait sentence of a workload deeper in the queue than positions are tracked. */
export function deepQueueDetail(reason: Waiting['reason'], limit: number): string {
  const deep = `more than ${limit.toLocaleString('en-US')} workloads ahead`;
  switch (reason) {
    case 'allocation_not_admitting':
      return 'Its allocation admits no workloads now (not active or outside its window).';
    case 'quota':
      return 'Waiting for quota: the allocation has less left than gpus × walltime.';
    case 'concurrency_cap':
      return "Waiting for the allocation's concurrent-GPU cap to free up.";
    case 'capacity':
      return `Waiting for GPUs; ${deep}.`;
    case 'reserved_for_head':
      return `Waiting: the free GPUs are reserved for an earlier workload; ${deep}.`;
    case 'behind_others':
      return `Waiting behind others; ${deep}.`;
  }
}
