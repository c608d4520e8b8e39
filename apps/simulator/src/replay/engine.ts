import { performance } from 'node:perf_hooks';
import {
  checkQueueLanes,
  compareStrings,
  runSchedulingCycle,
  validateGang,
  type AllocationQuota,
  type PartitionSnapshot,
  type PlacementPart,
  type PoolNode,
  type QueuedWorkload,
  type RunningWorkload,
  type SchedulingSettings,
} from '#domain';
import { offeredLoad, totalGpuSeconds } from './sizing.js';
import type { JobOutcome, PolicyName, ReplayResult, TraceJob, UtilizationSample } from './types.js';

export interface ReplayOptions {
  policy: PolicyName;
  nodes: number;
  /** Default 8. */
  gpusPerNode?: number;
  /** Nodes per interconnect domain (multi-node jobs stay inside one). Default 32. */
  domainSize?: number;
  /** Per tenant; default: proportional to each tenant's GPU-seconds in the trace (floored). */
  entitlementsBasisPoints?: Record<string, number>;
  /** Fair-share usage half-life. Default 7 days. */
  halfLifeSeconds?: number;
  /** gpupool policy: the starvation guard. Default DEFAULT_STARVATION_AFTER_SECONDS; 0 = off. */
  starvationAfterSeconds?: number;
  /** At most one scheduling cycle per this many simulated seconds. Default 60; 0 = every event. */
  cycleIntervalSeconds?: number;
  /**
   * gpupool policy: keep per-tenant queue lanes across cycles (PartitionSnapshot.queueLanes), so
   * the domain merges lanes instead of ordering the whole queue each cycle. Default true; false is
   * the reference the lanes are tested against (same results, slower).
   */
  queueLanes?: boolean;
  /** Check the lanes against the queue before every cycle (O(queue) each; tests). Default false. */
  checkLanes?: boolean;
}

export const DEFAULT_HALF_LIFE_SECONDS = 7 * 86_400;
export const DEFAULT_CYCLE_INTERVAL_SECONDS = 60;
/**
 * gpupool's starvation guard in the replay (see SchedulingSettings.starvationAfterSeconds): off by
 * default — on the Philly trace a guard of days turns the policy into FIFO (see the quality report).
 */
export const DEFAULT_STARVATION_AFTER_SECONDS = 0;

/** Virtual clock origin (trace second 0). Only differences matter; fixed for determinism. */
const ORIGIN_MS = Date.UTC(2017, 0, 1);
const GPU_MODEL = 'trace-gpu';
/** Effectively unlimited quota: quota is not what the replay measures. */
const UNLIMITED_GPU_SECONDS = 10n ** 18n;

/**
 * The domain settings of each policy. `fifo`: queue by submission only, nothing passes a blocked
 * head. `fifo-backfill`: the same order plus EASY backfill. `gpupool`: entitlement + fair-share
 * ordering, backfill and preemption. Placement is the domain's (best fit, topology-aware gangs)
 * for all three. Estimates are off (estimateLimit 0): the replay does not use them.
 */
export function policySettings(
  policy: PolicyName,
  halfLifeSeconds = DEFAULT_HALF_LIFE_SECONDS,
  starvationAfterSeconds = DEFAULT_STARVATION_AFTER_SECONDS,
): SchedulingSettings {
  const base = { fairShareHalfLifeSeconds: halfLifeSeconds, estimateLimit: 0, reportWaiting: false };
  switch (policy) {
    case 'fifo':
      return { ...base, ordering: 'fifo', backfill: false, preemption: false };
    case 'fifo-backfill':
      return { ...base, ordering: 'fifo', backfill: true, preemption: false };
    case 'gpupool':
      return { ...base, ordering: 'fair_share', backfill: true, preemption: true, starvationAfterSeconds };
  }
}

/** Entitlements proportional to each tenant's GPU-seconds: floor(10000 × share), so Σ ≤ 10000. */
export function proportionalEntitlements(jobs: readonly TraceJob[]): Record<string, number> {
  const total = totalGpuSeconds(jobs);
  const byTenant = new Map<string, number>();
  for (const j of jobs) byTenant.set(j.tenant, (byTenant.get(j.tenant) ?? 0) + j.gpus * j.durationSeconds);
  const result: Record<string, number> = {};
  for (const tenant of [...byTenant.keys()].sort()) {
    result[tenant] = total > 0 ? Math.floor((10_000 * byTenant.get(tenant)!) / total) : 0;
  }
  return result;
}

interface JobState {
  job: TraceJob;
  outcome: JobOutcome;
  tenant: TenantState;
  queued: QueuedWorkload;
  /** Index in the queued array, or −1. */
  queueAt: number;
  running: RunningWorkload | null;
  /** Index in the running array, or −1. */
  runAt: number;
  /** Bumped on each start: completion-heap entries of an earlier run are stale. */
  generation: number;
}

interface TenantState {
  id: string;
  quota: AllocationQuota;
  /** Decayed usage (GPU-seconds) as of `usageAt`. */
  usage: number;
  usageAt: number;
  runningGpus: number;
  /** gpupool policy: this tenant's queued workloads in (queuedAt, id) order (its queue lane). */
  lane: QueuedWorkload[];
}

/**
 * Discrete-event replay of a trace through the domain's `runSchedulingCycle` (the same code the
 * live scheduler runs), on a virtual clock in whole seconds.
 *
 * Cluster: `nodes` nodes of `gpusPerNode` GPUs, ids n00000…, in interconnect domains of
 * `domainSize` consecutive nodes. Each tenant is one project, one program and one allocation
 * (ids = the tenant name) with unlimited quota and a concurrency cap that never binds (2 × the cluster).
 * Fair-share usage is each tenant's GPU-seconds, decayed continuously with the half-life; shares
 * are the entitlements (at least 1 basis point each).
 *
 * Events are arrivals (submitAt) and completions (start + duration; the walltime given to the
 * scheduler is the exact duration, i.e. perfect runtime estimates for backfill). CYCLE RULE: the
 * next cycle runs at max(next event time, previous cycle + cycleIntervalSeconds); every arrival and
 * completion up to that instant is applied first (events at the same second are coalesced). So an
 * event after a quiet spell is scheduled at once, and a burst waits at most one interval. A
 * completion between cycles frees its GPUs at its exact time, but they are only reused at the next
 * cycle. With cycleIntervalSeconds = 0 a cycle runs at every distinct event time.
 *
 * Preemption: the victim's GPUs are freed at the cycle, it goes back to the queue with its original
 * queuedAt and later restarts FROM SCRATCH (its remaining duration is its full duration again; the
 * work done is lost). `startAt` keeps its first start; `endAt` is the end of its last run.
 *
 * Dropped (not replayed, counted in `dropped`): jobs with more GPUs than the cluster, and jobs no
 * placement can ever give (multi-node sizes not a multiple of gpusPerNode, or larger than a
 * domain). Deterministic: no randomness, no wall clock except `wallMs`.
 */
export function replay(jobs: readonly TraceJob[], options: ReplayOptions): ReplayResult {
  const started = performance.now();
  const gpusPerNode = options.gpusPerNode ?? 8;
  const domainSize = options.domainSize ?? 32;
  const interval = Math.max(0, options.cycleIntervalSeconds ?? DEFAULT_CYCLE_INTERVAL_SECONDS);
  const halfLife = options.halfLifeSeconds ?? DEFAULT_HALF_LIFE_SECONDS;
  if (!(Number.isInteger(options.nodes) && options.nodes >= 1)) {
    throw new Error(`nodes must be a positive integer, got ${options.nodes}`);
  }
  if (!(Number.isInteger(domainSize) && domainSize >= 1)) {
    throw new Error(`domainSize must be a positive integer, got ${domainSize}`);
  }

  // ---- cluster
  const totalGpus = options.nodes * gpusPerNode;
  const pad = String(options.nodes - 1).length;
  const nodes: PoolNode[] = [];
  const nodeById = new Map<string, PoolNode>();
  for (let i = 0; i < options.nodes; i += 1) {
    const node: PoolNode = {
      id: `n${String(i).padStart(pad, '0')}`,
      domain: `d${String(Math.floor(i / domainSize)).padStart(pad, '0')}`,
      gpusTotal: gpusPerNode,
      gpusFree: gpusPerNode,
      state: 'up',
    };
    nodes.push(node);
    nodeById.set(node.id, node);
  }
  const largestGang = Math.min(domainSize, options.nodes) * gpusPerNode;

  // ---- jobs: keep the placeable ones, in submission order (stable)
  const ordered = jobs
    .map((job, order) => ({ job, order }))
    .sort((a, b) => a.job.submitAt - b.job.submitAt || a.order - b.order)
    .map((x) => x.job);
  let tooLarge = 0;
  let unplaceableShape = 0;
  const kept: TraceJob[] = [];
  for (const job of ordered) {
    if (job.gpus > totalGpus) tooLarge += 1;
    else if (validateGang(job.gpus, gpusPerNode) !== null || job.gpus > largestGang) unplaceableShape += 1;
    else kept.push(job);
  }

  // ---- tenants
  const entitlements = options.entitlementsBasisPoints ?? proportionalEntitlements(kept);
  const tenants = new Map<string, TenantState>();
  const allocations = new Map<string, AllocationQuota>();
  const entitlementMap = new Map<string, number>();
  const projectShares = new Map<string, number>();
  const projectUsage = new Map<string, number>();
  const tenantNames = [...new Set([...Object.keys(entitlements), ...kept.map((j) => j.tenant)])].sort();
  for (const id of tenantNames) {
    const quota: AllocationQuota = {
      allocationId: id,
      remainingGpuSeconds: UNLIMITED_GPU_SECONDS,
      // 2 × cluster: never binds (in use ≤ cluster, a job ≤ cluster). A cap of exactly the cluster
      // would make a tenant's big job wait `concurrency_cap` — which blocks no one, so it would
      // never become the head and fifo/backfill would pass it forever.
      maxConcurrentGpus: 2 * totalGpus,
      gpusInUse: 0,
      admitting: true,
    };
    tenants.set(id, { id, quota, usage: 0, usageAt: 0, runningGpus: 0, lane: [] });
    allocations.set(id, quota);
    const bp = entitlements[id] ?? 0;
    entitlementMap.set(id, bp);
    projectShares.set(id, Math.max(1, bp));
    projectUsage.set(id, 0);
  }
  const advanceUsage = (t: TenantState, at: number): void => {
    if (at <= t.usageAt) return;
    if (!(halfLife > 0)) t.usage = 0;
    else {
      const f = Math.pow(2, -(at - t.usageAt) / halfLife);
      t.usage = t.usage * f + (t.runningGpus * halfLife * (1 - f)) / Math.LN2;
    }
    t.usageAt = at;
  };

  // ---- job states
  const states: JobState[] = kept.map((job) => {
    const outcome: JobOutcome = {
      id: job.id,
      tenant: job.tenant,
      gpus: job.gpus,
      submitAt: job.submitAt,
      startAt: -1,
      endAt: -1,
      durationSeconds: job.durationSeconds,
      preemptions: 0,
    };
    return {
      job,
      outcome,
      tenant: tenants.get(job.tenant)!,
      queued: {
        id: job.id,
        allocationId: job.tenant,
        projectId: job.tenant,
        programId: job.tenant,
        gpus: job.gpus,
        walltimeSeconds: job.durationSeconds,
        priorityTier: 0,
        queuedAt: new Date(ORIGIN_MS + job.submitAt * 1000),
      },
      queueAt: -1,
      running: null,
      runAt: -1,
      generation: 0,
    };
  });
  // Arrival order = the domain's fifo order (queuedAt, then id), so the fifo window below is a
  // prefix of what the domain would order.
  states.sort((a, b) => a.job.submitAt - b.job.submitAt || compareStrings(a.job.id, b.job.id));
  const stateById = new Map<string, JobState>();
  for (const s of states) {
    if (stateById.has(s.job.id)) throw new Error(`duplicate job id ${s.job.id}`);
    stateById.set(s.job.id, s);
  }

  // ---- the snapshot, reused across cycles (arrays and maps are updated in place)
  const queued: QueuedWorkload[] = [];
  const queuedStates: JobState[] = [];
  const fifo = options.policy !== 'gpupool';
  const useLanes = !fifo && options.queueLanes !== false;
  const backfill = options.policy === 'fifo-backfill';
  /** fifo policies: what the domain sees each cycle (see `fifoWindow`). */
  const window: QueuedWorkload[] = [];
  const running: RunningWorkload[] = [];
  const runningStates: JobState[] = [];
  const snapshot: PartitionSnapshot = {
    gpuModel: GPU_MODEL,
    gpusPerNode,
    now: new Date(ORIGIN_MS),
    nodes,
    queued: fifo ? window : useLanes ? [] : queued,
    running,
    allocations,
    entitlementsBasisPoints: entitlementMap,
    projectUsage,
    projectShares,
    settings: policySettings(options.policy, halfLife, options.starvationAfterSeconds),
    // Each tenant is one program, project and tier: its lane, kept in age order across cycles, lets
    // the domain merge lanes instead of ordering the whole queue every cycle.
    queueLanes: useLanes ? [...tenants.values()].map((t) => t.lane) : undefined,
  };
  let freeGpus = totalGpus;

  let removedFromQueue = 0;
  const compactQueue = (): void => {
    if (removedFromQueue === 0) return;
    let out = 0;
    for (let i = 0; i < queuedStates.length; i += 1) {
      const s = queuedStates[i];
      if (s.queueAt < 0) continue;
      s.queueAt = out;
      queuedStates[out] = s;
      queued[out] = s.queued;
      out += 1;
    }
    queuedStates.length = out;
    queued.length = out;
    removedFromQueue = 0;
  };
  // With lanes, the lanes are the queue (no flat queue is kept: that would cost O(queue) a cycle);
  // queueAt is then 0 while queued and −1 otherwise.
  let queuedCount = 0;
  const enqueue = (s: JobState): void => {
    queuedCount += 1;
    if (useLanes) {
      // Arrivals come in (queuedAt, id) order and are younger than anything queued.
      s.queueAt = 0;
      s.tenant.lane.push(s.queued);
      return;
    }
    s.queueAt = queued.length;
    queued.push(s.queued);
    queuedStates.push(s);
  };
  // Admitted ones are flagged (queueAt −1) and compacted out after each cycle, so the queue stays
  // in (queuedAt, id) order and the domain's ordering skips its age sort.
  const dequeue = (s: JobState): void => {
    queuedCount -= 1;
    s.queueAt = -1;
    if (useLanes) s.tenant.lane.splice(lanePosition(s.tenant.lane, s.queued), 1);
    else removedFromQueue += 1;
  };
  /** A preempted job goes back to the queue at its original age (its place in (queuedAt, id) order). */
  const requeue = (s: JobState): void => {
    queuedCount += 1;
    if (useLanes) {
      s.queueAt = 0;
      s.tenant.lane.splice(lanePosition(s.tenant.lane, s.queued), 0, s.queued);
      return;
    }
    const lo = lanePosition(queued, s.queued);
    queuedStates.splice(lo, 0, s);
    queued.splice(lo, 0, s.queued);
    for (let i = lo; i < queuedStates.length; i += 1) queuedStates[i].queueAt = i;
  };
  const stopRunning = (s: JobState, at: number): void => {
    const r = s.running!;
    for (const part of r.placement) nodeById.get(part.nodeId)!.gpusFree += part.gpus;
    freeGpus += s.job.gpus;
    advanceUsage(s.tenant, at);
    s.tenant.runningGpus -= s.job.gpus;
    s.tenant.quota.gpusInUse -= s.job.gpus;
    const i = s.runAt;
    const last = running.length - 1;
    if (i !== last) {
      running[i] = running[last];
      runningStates[i] = runningStates[last];
      runningStates[i].runAt = i;
    }
    running.pop();
    runningStates.pop();
    s.running = null;
    s.runAt = -1;
  };
  const completions = new CompletionHeap();
  const start = (s: JobState, at: number, placement: PlacementPart[], borrowed: boolean): void => {
    for (const part of placement) nodeById.get(part.nodeId)!.gpusFree -= part.gpus;
    freeGpus -= s.job.gpus;
    advanceUsage(s.tenant, at);
    s.tenant.runningGpus += s.job.gpus;
    s.tenant.quota.gpusInUse += s.job.gpus;
    const end = at + s.job.durationSeconds;
    s.running = {
      id: s.job.id,
      allocationId: s.job.tenant,
      projectId: s.job.tenant,
      programId: s.job.tenant,
      gpus: s.job.gpus,
      placement,
      admittedAt: new Date(ORIGIN_MS + at * 1000),
      expectedEndAt: new Date(ORIGIN_MS + end * 1000),
      borrowed,
    };
    s.runAt = running.length;
    running.push(s.running);
    runningStates.push(s);
    if (s.outcome.startAt < 0) s.outcome.startAt = at;
    s.generation += 1;
    completions.push(end, s, s.generation);
  };

  /**
   * The fifo policies' queue window, EXACT for admissions and the reservation: the queue in fifo
   * order (queuedStates is kept in that order: no preemption, arrivals appended in order, admitted
   * ones removed) up to the first workload at which the cumulative GPUs exceed the free GPUs (the
   * head is at or before it: not all of them can start); after it, with backfill, only workloads
   * that fit in the free GPUs (the others wait either way and change nothing for the rest).
   */
  const fifoWindow = (): void => {
    window.length = 0;
    let cumulative = 0;
    let i = 0;
    for (; i < queuedStates.length; i += 1) {
      const s = queuedStates[i];
      window.push(s.queued);
      cumulative += s.job.gpus;
      if (cumulative > freeGpus) break;
    }
    if (!backfill) return;
    for (i += 1; i < queuedStates.length; i += 1) {
      if (queuedStates[i].job.gpus <= freeGpus) window.push(queuedStates[i].queued);
    }
  };

  // ---- the event loop
  const utilization: UtilizationSample[] = [];
  let next = 0;
  let lastCycle = Number.NEGATIVE_INFINITY;
  let cycles = 0;
  let preemptions = 0;
  let makespan = 0;
  for (;;) {
    const nextArrival = next < states.length ? states[next].job.submitAt : Number.POSITIVE_INFINITY;
    const nextCompletion = completions.size > 0 ? completions.peekEnd() : Number.POSITIVE_INFINITY;
    const nextEvent = Math.min(nextArrival, nextCompletion);
    if (nextEvent === Number.POSITIVE_INFINITY) break;
    const now = Math.max(nextEvent, lastCycle + interval);
    while (next < states.length && states[next].job.submitAt <= now) enqueue(states[next++]);
    while (completions.size > 0 && completions.peekEnd() <= now) {
      const end = completions.peekEnd();
      const { state, generation } = completions.pop();
      if (generation !== state.generation || state.running === null) continue;
      stopRunning(state, end);
      state.outcome.endAt = end;
      if (end > makespan) makespan = end;
    }
    // Nothing waits: no cycle (and the interval does not restart).
    if (queuedCount === 0) continue;

    for (const t of tenants.values()) {
      advanceUsage(t, now);
      projectUsage.set(t.id, t.usage);
    }
    if (fifo) fifoWindow();
    snapshot.now = new Date(ORIGIN_MS + now * 1000);
    if (options.checkLanes) {
      const inQueue = states.filter((s) => s.queueAt >= 0).map((s) => s.queued);
      const problem =
        inQueue.length === queuedCount
          ? checkQueueLanes({ queued: inQueue, queueLanes: snapshot.queueLanes })
          : `${inQueue.length} jobs queued but ${queuedCount} counted`;
      if (problem !== null) throw new Error(`queue lanes out of step at t=${now}: ${problem}`);
    }
    const decision = runSchedulingCycle(snapshot);
    cycles += 1;
    lastCycle = now;

    for (const p of decision.preempted) {
      const s = stateById.get(p.workloadId)!;
      stopRunning(s, now);
      s.outcome.preemptions += 1;
      preemptions += 1;
      requeue(s);
    }
    for (const a of decision.admitted) {
      const s = stateById.get(a.workloadId)!;
      dequeue(s);
      start(s, now, a.placement, a.borrowed);
    }
    compactQueue();
    let fragmented = 0;
    if (decision.reservation) {
      const head = stateById.get(decision.reservation.workloadId)!;
      if (head.job.gpus <= freeGpus) fragmented = freeGpus;
    }
    utilization.push({
      at: now,
      gpusBusy: totalGpus - freeGpus,
      gpusTotal: totalGpus,
      fragmentedGpus: fragmented,
      queued: queuedCount,
    });
  }

  return {
    policy: options.policy,
    load: kept.length > 0 ? offeredLoad(kept, totalGpus) : 0,
    totalGpus,
    nodes: options.nodes,
    entitlementsBasisPoints: Object.fromEntries(tenantNames.map((t) => [t, entitlementMap.get(t) ?? 0])),
    jobs: states.map((s) => s.outcome),
    utilization,
    makespanSeconds: makespan,
    wallMs: performance.now() - started,
    cycles,
    dropped: { tooLarge, unplaceableShape },
    preemptions,
  };
}

/**
 * Where `w` is, or belongs, in a list kept in (queuedAt, id) order (a lane, or the whole queue):
 * the first position whose workload does not come before it.
 */
function lanePosition(lane: readonly QueuedWorkload[], w: QueuedWorkload): number {
  const at = w.queuedAt.getTime();
  let lo = 0;
  let hi = lane.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const other = lane[mid];
    const dt = other.queuedAt.getTime() - at;
    if (dt < 0 || (dt === 0 && compareStrings(other.id, w.id) < 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Min-heap of (end, sequence) → job run; the sequence keeps equal ends in push order. */
class CompletionHeap {
  private readonly ends: number[] = [];
  private readonly seqs: number[] = [];
  private readonly items: { state: JobState; generation: number }[] = [];
  private seq = 0;

  get size(): number {
    return this.ends.length;
  }

  peekEnd(): number {
    return this.ends[0];
  }

  push(end: number, state: JobState, generation: number): void {
    const seq = this.seq++;
    let i = this.ends.length;
    this.ends.push(end);
    this.seqs.push(seq);
    this.items.push({ state, generation });
    const item = this.items[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(parent, end, seq)) break;
      this.ends[i] = this.ends[parent];
      this.seqs[i] = this.seqs[parent];
      this.items[i] = this.items[parent];
      i = parent;
    }
    this.ends[i] = end;
    this.seqs[i] = seq;
    this.items[i] = item;
  }

  pop(): { state: JobState; generation: number } {
    const top = this.items[0];
    const end = this.ends.pop()!;
    const seq = this.seqs.pop()!;
    const item = this.items.pop()!;
    const n = this.ends.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.lessAt(r, l) ? r : l;
      if (this.less(c, end, seq) === false) break;
      this.ends[i] = this.ends[c];
      this.seqs[i] = this.seqs[c];
      this.items[i] = this.items[c];
      i = c;
    }
    this.ends[i] = end;
    this.seqs[i] = seq;
    this.items[i] = item;
    return top;
  }

  /** Whether the entry at `i` comes before (end, seq). */
  private less(i: number, end: number, seq: number): boolean {
    return this.ends[i] < end || (this.ends[i] === end && this.seqs[i] < seq);
  }

  private lessAt(i: number, j: number): boolean {
    return this.less(i, this.ends[j], this.seqs[j]);
  }
}
