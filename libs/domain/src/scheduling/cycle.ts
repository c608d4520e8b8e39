import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import { orderQueue, programStandings, queueInOrder, type ProgramStanding } from './fair-share.js';
import { CapacityIndex, compareStrings, maxPlaceableGpus, validateGang } from './placement.js';
import { runWithReservations } from './reserved-capacity.js';
import { projectStarts, type ProjectedAllocation } from './start-estimate.js';
import type {
  Admission,
  AllocationQuota,
  CycleDecision,
  PartitionSnapshot,
  PlacementPart,
  Preemption,
  QueuedWorkload,
  RunningWorkload,
  WaitReason,
  Waiting,
} from './types.js';

/**
 * One scheduling cycle of a partition: a pure function of the snapshot (same snapshot → same
 * decision). Walks `orderQueue(snapshot)`:
 *
 * 1. per workload, in this order: allocation missing or not admitting → `allocation_not_admitting`;
 *    remaining < gpus × walltime (bigint) → `quota`; gpusInUse + gpus > maxConcurrentGpus →
 *    `concurrency_cap`. None of these blocks anyone else. A size no placement of the registered
 *    pool can ever give (see `validateGang`, `maxPlaceableGpus`) waits `capacity` and blocks no one.
 * 2. Before the head is blocked: a workload that fits is admitted (placement taken from the working
 *    capacity index, hold = gpus × walltime taken from the allocation's remaining, its GPUs added to
 *    the allocation's in-use and to its program's running GPUs; `borrowed` = the program's running
 *    GPUs after admission exceed its entitled GPUs, except for a workload started by the starvation
 *    guard (settings.starvationAfterSeconds), which is never preemptible).
 * 3. Preemption (settings.preemption) — see `tryPreempt`.
 * 4. The first workload that still does not fit is the HEAD: its reservation time S is found by
 *    releasing running workloads (including those admitted earlier in this cycle, minus those
 *    preempted) in expectedEndAt order into a copy of the index until it fits; S = that end time
 *    (never before now), and the head's placement at S is fixed. If it cannot fit even when every
 *    running workload has ended (nodes down or draining), it gets no reservation, waits `capacity`
 *    and the next workload that does not fit is considered for the head instead.
 * 5. After the head (EASY backfill, settings.backfill): a later workload starts now, `backfilled`,
 *    only if it fits now AND either
 *      (a) now + walltime ≤ S (it is gone, by its walltime limit, when the head starts): it is
 *          placed by best fit on the free GPUs; or
 *      (b) it fits on the SPARE capacity — per node, min(free now, free at S after the head's
 *          reserved placement) — and is placed by best fit on that spare capacity; every GPU it
 *          takes is taken both now and from the capacity at S.
 *    So at S every node still has the head's reserved GPUs free: backfill never delays the head.
 *    Otherwise it waits `capacity` (does not fit now) or `reserved_for_head` (fits now, but only
 *    on GPUs the head needs at S). Without backfill nothing after the head starts: it waits
 *    `behind_others` (or `capacity` when it would not fit now anyway). Preemption is not attempted
 *    after the head is blocked.
 *
 * With settings.reportWaiting false, `waiting` is empty and the walk stops once nothing further can
 * be admitted (see `nothingMoreFits`); admissions, preemptions and the reservation are the same.
 *
 * Waiting entries: exactly one per queued workload not admitted; `position` is 1-based among the
 * workloads still waiting after this cycle, in scheduling order (so "N workloads ahead" =
 * position − 1). `estimatedStartAt` is computed for positions ≤ settings.estimateLimit by
 * `projectStarts` (start-estimate.ts): running and projected workloads release GPUs and concurrency
 * at their walltimes, each waiter starts at the first release at which it fits, in order (backfill
 * ignored, so estimates are conservative; a waiter held only by its cap blocks no one); null for
 * quota, not-admitting and never-placeable waiters, for one whose cap or GPUs no projected release
 * frees, and beyond the limit. The head's estimate is always its reservation time.
 */
export function runSchedulingCycle(snapshot: PartitionSnapshot): CycleDecision {
  if ((snapshot.nodeReservations?.length ?? 0) > 0 || (snapshot.reservedAllocationIds?.length ?? 0) > 0) {
    return runWithReservations(snapshot, plainCycle);
  }
  return plainCycle(snapshot);
}

/** One cycle over all of the snapshot's nodes, reservations aside. */
function plainCycle(snapshot: PartitionSnapshot): CycleDecision {
  return new Cycle(snapshot).run();
}

interface WorkingAllocation {
  quota: AllocationQuota | undefined;
  remaining: bigint;
  /** `remaining` as a number where that is exact (±Infinity beyond 2^53), for the hot comparison. */
  remainingNumber: number;
  inUse: number;
}

/** A workload holding GPUs until endMs: snapshot running ones and those admitted this cycle. */
interface Occupant {
  id: string;
  endMs: number;
  placement: readonly PlacementPart[];
  allocationId: string;
  gpus: number;
}

/** Why a waiter waits, beyond its reason (for its detail sentence and its estimate). */
const Note = {
  None: 0,
  Head: 1,
  /** Fits no placement of the registered pool (shape or size). */
  Never: 2,
  /** Does not fit the up nodes even when they are idle. */
  Unreachable: 3,
  ReservedForHead: 4,
  BehindOthers: 5,
} as const;
type Note = (typeof Note)[keyof typeof Note];

interface Reservation {
  workload: QueuedWorkload;
  startMs: number;
  placement: PlacementPart[];
}

const MS_PER_SECOND = 1000;

class Cycle {
  private readonly nowMs: number;
  private readonly gpusPerNode: number;
  private readonly index: CapacityIndex;
  private readonly maxPlaceable: number;
  private readonly allocations = new Map<string, WorkingAllocation>();
  private readonly standings: Map<string, ProgramStanding>;
  private readonly admitted: Admission[] = [];
  private readonly admittedOccupants: Occupant[] = [];
  private readonly preempted: Preemption[] = [];
  private readonly preemptedIds = new Set<string>();
  /** Waiting entries in position order; `detail` is written at the end of the cycle. */
  private readonly waits: Waiting[] = [];
  private readonly waitWorkload: QueuedWorkload[] = [];
  private readonly waitNote: Note[] = [];
  /** What the allocation showed when the quota/cap check failed (for the detail sentence). */
  private readonly waitFigure = new Map<number, bigint | number>();
  private readonly detailPrefixes = new Map<number, string>();
  private preemptionCandidates: RunningWorkload[] | null = null;
  private preemptionCursor = 0;
  private reservation: Reservation | null = null;
  /** Backfill state once the head is reserved. */
  private spare: CapacityIndex | null = null;
  private atShadow: Int32Array | null = null;
  private minFailNow = Number.POSITIVE_INFINITY;
  private minFailSpare = Number.POSITIVE_INFINITY;

  constructor(private readonly snapshot: PartitionSnapshot) {
    this.nowMs = snapshot.now.getTime();
    this.gpusPerNode = snapshot.gpusPerNode;
    this.index = CapacityIndex.build(snapshot.nodes, snapshot.gpusPerNode);
    this.maxPlaceable = maxPlaceableGpus(snapshot.nodes, snapshot.gpusPerNode);
    this.standings = programStandings(snapshot);
  }

  run(): CycleDecision {
    if (this.snapshot.settings.reportWaiting === false) {
      for (const workload of queueInOrder(this.snapshot)) {
        this.consider(workload);
        if (this.nothingMoreFits()) break;
      }
      return {
        admitted: this.admitted,
        preempted: this.preempted,
        waiting: [],
        reservation: this.reservationOut(),
      };
    }
    for (const workload of orderQueue(this.snapshot)) this.consider(workload);
    this.estimate();
    return {
      admitted: this.admitted,
      preempted: this.preempted,
      waiting: this.writeDetails(),
      reservation: this.reservationOut(),
    };
  }

  /** Queued at least settings.starvationAfterSeconds (see SchedulingSettings). */
  private starving(w: QueuedWorkload): boolean {
    const guard = this.snapshot.settings.starvationAfterSeconds;
    return guard !== undefined && guard > 0 && this.nowMs - w.queuedAt.getTime() >= guard * MS_PER_SECOND;
  }

  /**
   * After the head is reserved nothing is preempted, so once no GPU is free now (or not even one
   * GPU fits) no later workload can start in this cycle.
   */
  private nothingMoreFits(): boolean {
    return this.reservation !== null && (this.index.freeGpus === 0 || this.minFailNow <= 1);
  }

  private reservationOut(): CycleDecision['reservation'] {
    const reservation = this.reservation;
    return reservation
      ? { workloadId: reservation.workload.id, startAt: new Date(reservation.startMs) }
      : null;
  }

  private consider(w: QueuedWorkload): void {
    const allocation = this.allocation(w.allocationId);
    if (!allocation.quota?.admitting) return this.wait(w, 'allocation_not_admitting');
    if (!placeableShape(w, this.gpusPerNode, this.maxPlaceable)) {
      return this.wait(w, 'capacity', Note.Never);
    }
    if (quotaShort(allocation, w)) return this.wait(w, 'quota', Note.None, allocation.remaining);
    if (allocation.inUse + w.gpus > allocation.quota.maxConcurrentGpus) {
      return this.wait(w, 'concurrency_cap', Note.None, allocation.inUse);
    }
    if (this.reservation === null) return this.beforeHead(w, allocation);
    return this.afterHead(w, allocation);
  }

  private beforeHead(w: QueuedWorkload, allocation: WorkingAllocation): void {
    const parts = this.index.find(w.gpus);
    if (parts) return this.admit(w, allocation, parts, false);
    if (this.snapshot.settings.preemption) {
      const viaPreemption = this.tryPreempt(w);
      if (viaPreemption) return this.admit(w, allocation, viaPreemption, false);
    }
    const reservation = this.reserve(w);
    if (!reservation) return this.wait(w, 'capacity', Note.Unreachable);
    this.reservation = reservation;
    this.wait(w, 'capacity', Note.Head);
    if (this.snapshot.settings.backfill) this.prepareBackfill(reservation);
  }

  private afterHead(w: QueuedWorkload, allocation: WorkingAllocation): void {
    const fitsNow = w.gpus < this.minFailNow && this.index.fits(w.gpus);
    if (!fitsNow) {
      this.minFailNow = Math.min(this.minFailNow, w.gpus);
      return this.wait(w, 'capacity');
    }
    if (!this.snapshot.settings.backfill) return this.wait(w, 'behind_others');
    const spare = this.spare!;
    const atShadow = this.atShadow!;
    const endMs = this.nowMs + w.walltimeSeconds * MS_PER_SECOND;
    if (endMs <= this.reservation!.startMs) {
      // (a) gone before the head starts: any free GPUs will do.
      const parts = this.index.find(w.gpus)!;
      this.admit(w, allocation, parts, true);
      for (const part of parts) {
        const rank = this.index.rankOf(part.nodeId)!;
        spare.setFree(rank, Math.min(this.index.nodeFree[rank], atShadow[rank]));
      }
      return;
    }
    // (b) still running at S: only GPUs the head does not need at S.
    const parts = w.gpus < this.minFailSpare ? spare.find(w.gpus) : null;
    if (!parts) {
      this.minFailSpare = Math.min(this.minFailSpare, w.gpus);
      return this.wait(w, 'reserved_for_head');
    }
    this.admit(w, allocation, parts, true);
    spare.take(parts);
    for (const part of parts) {
      const rank = this.index.rankOf(part.nodeId)!;
      atShadow[rank] = atShadow[rank] - part.gpus;
    }
  }

  private admit(
    w: QueuedWorkload,
    allocation: WorkingAllocation,
    parts: PlacementPart[],
    backfilled: boolean,
  ): void {
    this.index.take(parts);
    const hold = BigInt(w.gpus) * BigInt(w.walltimeSeconds);
    allocation.remaining -= hold;
    allocation.remainingNumber = exactNumber(allocation.remaining);
    allocation.inUse += w.gpus;
    const standing = this.standing(w.programId);
    standing.runningGpus += w.gpus;
    this.admitted.push({
      workloadId: w.id,
      placement: parts,
      holdGpuSeconds: hold,
      // A workload started by the starvation guard is never preempted: restarting it from scratch
      // would starve it again (and, with its original age, let it preempt others in turn).
      borrowed: !this.starving(w) && standing.runningGpus > standing.entitledGpus,
      backfilled,
    });
    this.admittedOccupants.push({
      id: w.id,
      endMs: this.nowMs + w.walltimeSeconds * MS_PER_SECOND,
      placement: parts,
      allocationId: w.allocationId,
      gpus: w.gpus,
    });
  }

  /**
   * Preemption, for a workload `w` that does not fit and whose program is BELOW its entitlement
   * (running < entitled; shortfall = entitled − running):
   * - candidates: running workloads from the snapshot with `borrowed` set, of OTHER programs that
   *   are above their entitlement and stay at or above it after losing the candidate (so a victim
   *   program is never pushed below its own entitlement — no ping-pong), with at least one GPU on
   *   an up node; youngest admittedAt first (ties: id);
   * - greedy: preempt candidates one by one, re-checking after each whether `w` fits, skipping any
   *   candidate that would bring the GPUs preempted for `w` above the shortfall; if `w` still does
   *   not fit, nothing is preempted;
   * - then minimise: walk the chosen ones oldest first and give each its GPUs back if `w` still
   *   fits without it. Fitting is monotone in free GPUs, so afterwards removing any one preempted
   *   workload makes `w` not fit.
   * `w` is then placed (best fit / gang as usual) and admitted in the same decision.
   */
  private tryPreempt(w: QueuedWorkload): PlacementPart[] | null {
    const own = this.standing(w.programId);
    if (!(own.runningGpus < own.entitledGpus)) return null;
    const shortfall = own.entitledGpus - own.runningGpus;
    if (w.gpus > shortfall + this.index.freeGpus) return null;
    const candidates = this.candidates();
    while (
      this.preemptionCursor < candidates.length &&
      this.preemptedIds.has(candidates[this.preemptionCursor].id)
    ) {
      this.preemptionCursor += 1;
    }
    const chosen: RunningWorkload[] = [];
    let freed = 0;
    let fits = false;
    for (let i = this.preemptionCursor; i < candidates.length && !fits; i += 1) {
      const c = candidates[i];
      if (this.preemptedIds.has(c.id) || c.programId === w.programId) continue;
      if (freed + c.gpus > shortfall) continue;
      const victim = this.standing(c.programId);
      if (victim.runningGpus - c.gpus < victim.entitledGpus) continue;
      this.index.release(c.placement);
      victim.runningGpus -= c.gpus;
      chosen.push(c);
      freed += c.gpus;
      fits = this.index.fits(w.gpus);
    }
    if (!fits) {
      for (const c of chosen) {
        this.index.take(c.placement);
        this.standing(c.programId).runningGpus += c.gpus;
      }
      return null;
    }
    const kept: RunningWorkload[] = [];
    for (let i = chosen.length - 1; i >= 0; i -= 1) {
      const c = chosen[i];
      this.index.take(c.placement);
      if (this.index.fits(w.gpus)) {
        this.standing(c.programId).runningGpus += c.gpus;
      } else {
        this.index.release(c.placement);
        kept.push(c);
      }
    }
    kept.reverse();
    for (const c of kept) {
      this.preemptedIds.add(c.id);
      this.preempted.push({ workloadId: c.id, forProgramId: w.programId });
      const allocation = this.allocation(c.allocationId);
      allocation.inUse = Math.max(0, allocation.inUse - c.gpus);
    }
    return this.index.find(w.gpus);
  }

  private candidates(): RunningWorkload[] {
    if (this.preemptionCandidates) return this.preemptionCandidates;
    const index = this.index;
    const upParts = (r: RunningWorkload): boolean =>
      r.placement.some((p) => {
        const rank = index.rankOf(p.nodeId);
        return rank !== undefined && index.layout.nodeUp[rank] === 1;
      });
    this.preemptionCandidates = this.snapshot.running
      .filter((r) => r.borrowed && upParts(r))
      .sort((a, b) => b.admittedAt.getTime() - a.admittedAt.getTime() || compareStrings(a.id, b.id));
    return this.preemptionCandidates;
  }

  /** Occupants (running minus preempted, plus admitted so far) in end order. */
  private occupantsByEnd(): Occupant[] {
    const all: Occupant[] = [];
    for (const r of this.snapshot.running) {
      if (this.preemptedIds.has(r.id)) continue;
      all.push({
        id: r.id,
        endMs: Math.max(r.expectedEndAt.getTime(), this.nowMs),
        placement: r.placement,
        allocationId: r.allocationId,
        gpus: r.gpus,
      });
    }
    for (const a of this.admittedOccupants) all.push(a);
    // Stable sort on a number: releases at the same instant are applied together, so ids need not
    // be compared; input order is deterministic.
    all.sort((a, b) => a.endMs - b.endMs);
    return all;
  }

  private reserve(w: QueuedWorkload): Reservation | null {
    const future = this.index.clone();
    const occupants = this.occupantsByEnd();
    let i = 0;
    while (i < occupants.length) {
      const t = occupants[i].endMs;
      while (i < occupants.length && occupants[i].endMs === t) {
        future.release(occupants[i].placement);
        i += 1;
      }
      const placement = future.find(w.gpus);
      if (placement) return { workload: w, startMs: Math.max(t, this.nowMs), placement };
    }
    return null;
  }

  private prepareBackfill(reservation: Reservation): void {
    // Free GPUs at S, minus the head's reserved placement.
    const future = this.index.clone();
    for (const o of this.occupantsByEnd()) {
      if (o.endMs > reservation.startMs) break;
      future.release(o.placement);
    }
    future.take(reservation.placement);
    const atShadow = future.nodeFree.slice();
    const spare = this.index.clone();
    for (let rank = 0; rank < atShadow.length; rank += 1) {
      spare.setFree(rank, Math.min(this.index.nodeFree[rank], atShadow[rank]));
    }
    this.atShadow = atShadow;
    this.spare = spare;
  }

  /** The first `estimateLimit` waiters' starts, projected by `projectStarts`; the head's is its reservation. */
  private estimate(): void {
    const limit = Math.min(this.waits.length, Math.max(0, this.snapshot.settings.estimateLimit));
    const head = this.reservation;
    const headAt = head ? this.waitWorkload.indexOf(head.workload) : -1;
    if (head && headAt >= 0) this.waits[headAt].estimatedStartAt = new Date(head.startMs);
    const candidates: number[] = [];
    for (let i = 0; i < limit; i += 1) if (this.estimable(i)) candidates.push(i);
    if (candidates.length === 0) return;
    const caps = new Map<string, ProjectedAllocation>();
    for (const at of candidates) {
      const allocationId = this.waitWorkload[at].allocationId;
      const allocation = this.allocations.get(allocationId);
      if (allocation?.quota && !caps.has(allocationId)) {
        caps.set(allocationId, {
          gpusInUse: allocation.inUse,
          maxConcurrentGpus: allocation.quota.maxConcurrentGpus,
        });
      }
    }
    const starts = projectStarts({
      nowMs: this.nowMs,
      capacity: this.index,
      occupants: this.occupantsByEnd(),
      waiters: candidates.map((at) => {
        const w = this.waitWorkload[at];
        return {
          gpus: w.gpus,
          walltimeSeconds: w.walltimeSeconds,
          allocationId: w.allocationId,
          ...(at === headAt && head ? { notBeforeMs: head.startMs } : {}),
        };
      }),
      allocations: caps,
    });
    candidates.forEach((at, k) => {
      const start = starts[k];
      if (at !== headAt && start !== null) this.waits[at].estimatedStartAt = new Date(start);
    });
  }

  private wait(
    w: QueuedWorkload,
    reason: WaitReason,
    note: Note = Note.None,
    figure?: bigint | number,
  ): void {
    const at = this.waits.length;
    this.waits.push({ workloadId: w.id, reason, detail: '', position: at + 1, estimatedStartAt: null });
    this.waitWorkload.push(w);
    this.waitNote.push(note);
    if (figure !== undefined) this.waitFigure.set(at, figure);
  }

  /**
   * Whether a waiter's start can be projected: it waits for capacity and can ever be placed, or for
   * its allocation's concurrency cap (which its running workloads free at their walltimes). Quota and
   * closed allocations wait on a decision, not on time.
   */
  private estimable(at: number): boolean {
    const reason = this.waits[at].reason;
    const note = this.waitNote[at];
    return (
      (reason === 'capacity' ||
        reason === 'reserved_for_head' ||
        reason === 'behind_others' ||
        reason === 'concurrency_cap') &&
      note !== Note.Never &&
      note !== Note.Unreachable
    );
  }

  private allocation(allocationId: string): WorkingAllocation {
    let a = this.allocations.get(allocationId);
    if (!a) {
      const quota = this.snapshot.allocations.get(allocationId);
      const remaining = quota?.remainingGpuSeconds ?? 0n;
      a = { quota, remaining, remainingNumber: exactNumber(remaining), inUse: quota?.gpusInUse ?? 0 };
      this.allocations.set(allocationId, a);
    }
    return a;
  }

  private standing(programId: string): ProgramStanding {
    let s = this.standings.get(programId);
    if (!s) {
      s = { programId, entitledGpus: 0, runningGpus: 0 };
      this.standings.set(programId, s);
    }
    return s;
  }

  private writeDetails(): Waiting[] {
    const waits = this.waits;
    for (let at = 0; at < waits.length; at += 1) {
      const wait = waits[at];
      const ahead = at;
      const start = wait.estimatedStartAt;
      wait.detail =
        this.describe(at) +
        (ahead === 1 ? '; 1 workload ahead; ' : `; ${ahead} workloads ahead; `) +
        (start === null
          ? 'no estimated start yet'
          : `estimated start ${formatEstimatedStart(start.getTime(), this.nowMs)}`);
    }
    return waits;
  }

  /** The reason as a sentence. Capacity-kind sentences repeat a lot and are cached per size. */
  private describe(at: number): string {
    const w = this.waitWorkload[at];
    const reason = this.waits[at].reason;
    const note = this.waitNote[at];
    switch (reason) {
      case 'allocation_not_admitting':
        return `Allocation ${w.allocationId} is not admitting workloads (not active, or outside its window); waiting for ${this.gpusText(w.gpus)}`;
      case 'quota': {
        const hold = BigInt(w.gpus) * BigInt(w.walltimeSeconds);
        const figure = this.waitFigure.get(at);
        const remaining = typeof figure === 'bigint' && figure > 0n ? figure : 0n;
        return (
          `Quota: allocation ${w.allocationId} has ${formatGpuHoursForPeople(remaining)} GPU-hours left ` +
          `and this workload needs ${formatGpuHoursForPeople(hold)} ` +
          `(${this.gpusText(w.gpus)} × ${formatGpuHoursForPeople(BigInt(w.walltimeSeconds))} h)`
        );
      }
      case 'concurrency_cap': {
        const inUse = Number(this.waitFigure.get(at) ?? 0);
        const cap = this.allocations.get(w.allocationId)?.quota?.maxConcurrentGpus ?? 0;
        return (
          `Concurrency cap: allocation ${w.allocationId} has ${inUse} of its ${cap} concurrent GPUs ` +
          `in use and this workload needs ${w.gpus} more`
        );
      }
      case 'capacity':
      case 'reserved_for_head':
      case 'behind_others': {
        const code: Note =
          reason === 'capacity'
            ? note
            : reason === 'reserved_for_head'
              ? Note.ReservedForHead
              : Note.BehindOthers;
        const key = w.gpus * 8 + code;
        let text = this.detailPrefixes.get(key);
        if (text === undefined) {
          text = this.capacitySentence(w.gpus, code);
          this.detailPrefixes.set(key, text);
        }
        return text;
      }
    }
  }

  private capacitySentence(gpus: number, code: Note): string {
    const what = this.gpusText(gpus);
    const shape =
      gpus > this.gpusPerNode && gpus % this.gpusPerNode === 0
        ? ` (${gpus / this.gpusPerNode} whole nodes in one interconnect domain)`
        : '';
    const headId = this.reservation?.workload.id ?? '?';
    switch (code) {
      case Note.Never: {
        const why = validateGang(gpus, this.gpusPerNode);
        return why
          ? `Cannot be placed: ${why}`
          : `Cannot be placed: ${what} is more than any interconnect domain of this pool can give (${this.maxPlaceable} at most)`;
      }
      case Note.Unreachable:
        return `Waiting for ${what}${shape}; the up nodes cannot hold it even when idle (nodes are down or draining)`;
      case Note.Head:
        return `Waiting for ${what}${shape}; first in line, GPUs are reserved for it`;
      case Note.ReservedForHead:
        return `Waiting for ${what}${shape}; the free GPUs are reserved for workload ${headId}, first in line`;
      case Note.BehindOthers:
        return `Waiting for ${what}${shape} behind workload ${headId}, first in line (backfill is off)`;
      case Note.None:
        return `Waiting for ${what}${shape}`;
    }
  }

  private gpusText(gpus: number): string {
    return `${gpus} ${this.snapshot.gpuModel} GPU${gpus === 1 ? '' : 's'}`;
  }
}

/** remaining < gpus × walltime, exactly; bigint only when the numbers leave the exact range. */
function quotaShort(allocation: WorkingAllocation, w: QueuedWorkload): boolean {
  const hold = w.gpus * w.walltimeSeconds;
  if (Number.isSafeInteger(hold)) return allocation.remainingNumber < hold;
  return allocation.remaining < BigInt(w.gpus) * BigInt(w.walltimeSeconds);
}

function exactNumber(value: bigint): number {
  if (value > MAX_SAFE) return Number.POSITIVE_INFINITY;
  if (value < -MAX_SAFE) return Number.NEGATIVE_INFINITY;
  return Number(value);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function placeableShape(w: QueuedWorkload, gpusPerNode: number, maxPlaceable: number): boolean {
  return (
    validateGang(w.gpus, gpusPerNode) === null &&
    w.gpus <= maxPlaceable &&
    Number.isSafeInteger(w.walltimeSeconds) &&
    w.walltimeSeconds >= 0
  );
}

/** "14:20 UTC" on the same UTC day as now, else "2026-05-03 14:20 UTC". */
export function formatEstimatedStart(ms: number, nowMs: number): string {
  const iso = new Date(ms).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(nowMs).toISOString().slice(0, 10);
  return `${sameDay ? '' : `${iso.slice(0, 10)} `}${iso.slice(11, 16)} UTC`;
}
