import { performance } from 'node:perf_hooks';
import {
  buildNodeGrid,
  checkQueueLanes,
  compareStrings,
  runSchedulingCycle,
  validateGang,
  zeroPad,
  type AllocationQuota,
  type CycleDecision,
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

/** The options with their defaults applied, validated. */
interface ReplayConfig {
  policy: PolicyName;
  nodes: number;
  gpusPerNode: number;
  domainSize: number;
  intervalSeconds: number;
  halfLifeSeconds: number;
  starvationAfterSeconds: number | undefined;
  /** gpupool policy with per-tenant queue lanes (see ReplayOptions.queueLanes). */
  useLanes: boolean;
  checkLanes: boolean;
}

/** The tenants and the per-tenant maps the snapshot reads (updated in place across cycles). */
interface ReplayTenants {
  /** Sorted. */
  names: string[];
  byId: Map<string, TenantState>;
  allocations: Map<string, AllocationQuota>;
  entitlements: Map<string, number>;
  projectShares: Map<string, number>;
  projectUsage: Map<string, number>;
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
  const config = replayConfig(options);
  const nodes = buildNodes(config.nodes, config.gpusPerNode, config.domainSize);
  const totalGpus = config.nodes * config.gpusPerNode;
  const largestGang = Math.min(config.domainSize, config.nodes) * config.gpusPerNode;
  const { kept, dropped } = placeableJobs(jobs, totalGpus, config.gpusPerNode, largestGang);
  const tenants = buildTenants(
    kept,
    options.entitlementsBasisPoints ?? proportionalEntitlements(kept),
    totalGpus,
  );
  const states = buildJobStates(kept, tenants.byId);

  const simulation = new ReplaySimulation(config, nodes, tenants, states);
  simulation.run();

  return {
    policy: config.policy,
    load: kept.length > 0 ? offeredLoad(kept, totalGpus) : 0,
    totalGpus,
    nodes: config.nodes,
    entitlementsBasisPoints: Object.fromEntries(
      tenants.names.map((t) => [t, tenants.entitlements.get(t) ?? 0]),
    ),
    jobs: states.map((s) => s.outcome),
    utilization: simulation.utilization,
    makespanSeconds: simulation.makespan,
    wallMs: performance.now() - started,
    cycles: simulation.cycles,
    dropped,
    preemptions: simulation.preemptions,
  };
}

function replayConfig(options: ReplayOptions): ReplayConfig {
  const domainSize = options.domainSize ?? 32;
  if (!(Number.isInteger(options.nodes) && options.nodes >= 1)) {
    throw new Error(`nodes must be a positive integer, got ${options.nodes}`);
  }
  if (!(Number.isInteger(domainSize) && domainSize >= 1)) {
    throw new Error(`domainSize must be a positive integer, got ${domainSize}`);
  }
  return {
    policy: options.policy,
    nodes: options.nodes,
    gpusPerNode: options.gpusPerNode ?? 8,
    domainSize,
    intervalSeconds: Math.max(0, options.cycleIntervalSeconds ?? DEFAULT_CYCLE_INTERVAL_SECONDS),
    halfLifeSeconds: options.halfLifeSeconds ?? DEFAULT_HALF_LIFE_SECONDS,
    starvationAfterSeconds: options.starvationAfterSeconds,
    useLanes: options.policy === 'gpupool' && options.queueLanes !== false,
    checkLanes: options.checkLanes === true,
  };
}

/** `count` idle nodes, ids n0…, in interconnect domains of `domainSize` consecutive nodes. */
function buildNodes(count: number, gpusPerNode: number, domainSize: number): PoolNode[] {
  const width = String(count - 1).length;
  return buildNodeGrid({
    nodes: count,
    gpusPerNode,
    nodesPerDomain: domainSize,
    nodeId: (index) => `n${zeroPad(index, width)}`,
    domainId: (domainIndex) => `d${zeroPad(domainIndex, width)}`,
  });
}

/** The jobs some placement can give, in submission order (stable), and the count of the others. */
function placeableJobs(
  jobs: readonly TraceJob[],
  totalGpus: number,
  gpusPerNode: number,
  largestGang: number,
): { kept: TraceJob[]; dropped: { tooLarge: number; unplaceableShape: number } } {
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
  return { kept, dropped: { tooLarge, unplaceableShape } };
}

/** One tenant per name in the entitlements or the jobs: unlimited quota, a cap that never binds. */
function buildTenants(
  kept: readonly TraceJob[],
  entitlementsBasisPoints: Record<string, number>,
  totalGpus: number,
): ReplayTenants {
  const tenants: ReplayTenants = {
    names: [...new Set([...Object.keys(entitlementsBasisPoints), ...kept.map((j) => j.tenant)])].sort(),
    byId: new Map(),
    allocations: new Map(),
    entitlements: new Map(),
    projectShares: new Map(),
    projectUsage: new Map(),
  };
  for (const id of tenants.names) {
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
    tenants.byId.set(id, { id, quota, usage: 0, usageAt: 0, runningGpus: 0, lane: [] });
    tenants.allocations.set(id, quota);
    const bp = entitlementsBasisPoints[id] ?? 0;
    tenants.entitlements.set(id, bp);
    tenants.projectShares.set(id, Math.max(1, bp));
    tenants.projectUsage.set(id, 0);
  }
  return tenants;
}

/**
 * One state per job, in arrival order = the domain's fifo order (queuedAt, then id), so the fifo
 * window is a prefix of what the domain would order.
 */
function buildJobStates(kept: readonly TraceJob[], tenants: ReadonlyMap<string, TenantState>): JobState[] {
  const states: JobState[] = kept.map((job) => ({
    job,
    outcome: {
      id: job.id,
      tenant: job.tenant,
      gpus: job.gpus,
      submitAt: job.submitAt,
      startAt: -1,
      endAt: -1,
      durationSeconds: job.durationSeconds,
      preemptions: 0,
    },
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
  }));
  states.sort((a, b) => a.job.submitAt - b.job.submitAt || compareStrings(a.job.id, b.job.id));
  return states;
}

/** Decays a tenant's usage to `at`, adding what its running GPUs used meanwhile. */
function advanceUsage(t: TenantState, at: number, halfLife: number): void {
  if (at <= t.usageAt) return;
  if (!(halfLife > 0)) t.usage = 0;
  else {
    const f = Math.pow(2, -(at - t.usageAt) / halfLife);
    t.usage = t.usage * f + (t.runningGpus * halfLife * (1 - f)) / Math.LN2;
  }
  t.usageAt = at;
}

/**
 * The waiting jobs. With lanes, the lanes are the queue (no flat queue is kept: that would cost
 * O(queue) a cycle); queueAt is then 0 while queued and −1 otherwise. Without, `queued` is the
 * whole queue in (queuedAt, id) order: admitted ones are flagged (queueAt −1) and compacted out
 * after each cycle, so the domain's ordering skips its age sort.
 */
class ReplayQueue {
  /** Without lanes: the queue, parallel to `states`. */
  readonly queued: QueuedWorkload[] = [];
  readonly states: JobState[] = [];
  count = 0;
  private removed = 0;

  constructor(private readonly useLanes: boolean) {}

  enqueue(s: JobState): void {
    this.count += 1;
    if (this.useLanes) {
      // Arrivals come in (queuedAt, id) order and are younger than anything queued.
      s.queueAt = 0;
      s.tenant.lane.push(s.queued);
      return;
    }
    s.queueAt = this.queued.length;
    this.queued.push(s.queued);
    this.states.push(s);
  }

  dequeue(s: JobState): void {
    this.count -= 1;
    s.queueAt = -1;
    if (this.useLanes) s.tenant.lane.splice(lanePosition(s.tenant.lane, s.queued), 1);
    else this.removed += 1;
  }

  /** A preempted job goes back to the queue at its original age (its place in (queuedAt, id) order). */
  requeue(s: JobState): void {
    this.count += 1;
    if (this.useLanes) {
      s.queueAt = 0;
      s.tenant.lane.splice(lanePosition(s.tenant.lane, s.queued), 0, s.queued);
      return;
    }
    const lo = lanePosition(this.queued, s.queued);
    this.states.splice(lo, 0, s);
    this.queued.splice(lo, 0, s.queued);
    for (let i = lo; i < this.states.length; i += 1) this.states[i].queueAt = i;
  }

  /** Drops the dequeued ones from the flat queue, keeping its order. */
  compact(): void {
    if (this.removed === 0) return;
    let out = 0;
    for (let i = 0; i < this.states.length; i += 1) {
      const s = this.states[i];
      if (s.queueAt < 0) continue;
      s.queueAt = out;
      this.states[out] = s;
      this.queued[out] = s.queued;
      out += 1;
    }
    this.states.length = out;
    this.queued.length = out;
    this.removed = 0;
  }

  /**
   * The fifo policies' queue window, EXACT for admissions and the reservation: the queue in fifo
   * order (`states` is kept in that order: no preemption, arrivals appended in order, admitted
   * ones removed) up to the first workload at which the cumulative GPUs exceed the free GPUs (the
   * head is at or before it: not all of them can start); after it, with backfill, only workloads
   * that fit in the free GPUs (the others wait either way and change nothing for the rest).
   */
  fillFifoWindow(window: QueuedWorkload[], freeGpus: number, backfill: boolean): void {
    window.length = 0;
    let cumulative = 0;
    let i = 0;
    for (; i < this.states.length; i += 1) {
      const s = this.states[i];
      window.push(s.queued);
      cumulative += s.job.gpus;
      if (cumulative > freeGpus) break;
    }
    if (!backfill) return;
    for (i += 1; i < this.states.length; i += 1) {
      if (this.states[i].job.gpus <= freeGpus) window.push(this.states[i].queued);
    }
  }
}

/** The running jobs, the nodes' free GPUs and when each run ends. */
class ReplayCluster {
  readonly running: RunningWorkload[] = [];
  readonly completions = new CompletionHeap();
  readonly totalGpus: number;
  freeGpus: number;
  private readonly runningStates: JobState[] = [];
  private readonly nodeById = new Map<string, PoolNode>();

  constructor(
    readonly nodes: PoolNode[],
    private readonly halfLife: number,
  ) {
    for (const node of nodes) this.nodeById.set(node.id, node);
    this.totalGpus = nodes.reduce((sum, node) => sum + node.gpusTotal, 0);
    this.freeGpus = this.totalGpus;
  }

  start(s: JobState, at: number, placement: PlacementPart[], borrowed: boolean): void {
    for (const part of placement) this.nodeById.get(part.nodeId)!.gpusFree -= part.gpus;
    this.freeGpus -= s.job.gpus;
    advanceUsage(s.tenant, at, this.halfLife);
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
    s.runAt = this.running.length;
    this.running.push(s.running);
    this.runningStates.push(s);
    if (s.outcome.startAt < 0) s.outcome.startAt = at;
    s.generation += 1;
    this.completions.push(end, s, s.generation);
  }

  stop(s: JobState, at: number): void {
    const r = s.running!;
    for (const part of r.placement) this.nodeById.get(part.nodeId)!.gpusFree += part.gpus;
    this.freeGpus += s.job.gpus;
    advanceUsage(s.tenant, at, this.halfLife);
    s.tenant.runningGpus -= s.job.gpus;
    s.tenant.quota.gpusInUse -= s.job.gpus;
    const i = s.runAt;
    const last = this.running.length - 1;
    if (i !== last) {
      this.running[i] = this.running[last];
      this.runningStates[i] = this.runningStates[last];
      this.runningStates[i].runAt = i;
    }
    this.running.pop();
    this.runningStates.pop();
    s.running = null;
    s.runAt = -1;
  }
}

/** The event loop over one replay's state (see `replay`). */
class ReplaySimulation {
  readonly utilization: UtilizationSample[] = [];
  cycles = 0;
  preemptions = 0;
  makespan = 0;
  private readonly queue: ReplayQueue;
  private readonly cluster: ReplayCluster;
  private readonly stateById = new Map<string, JobState>();
  /** The snapshot, reused across cycles (arrays and maps are updated in place). */
  private readonly snapshot: PartitionSnapshot;
  /** fifo policies: what the domain sees each cycle (see `ReplayQueue.fillFifoWindow`). */
  private readonly window: QueuedWorkload[] = [];
  private readonly fifo: boolean;
  private nextArrival = 0;
  private lastCycle = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly config: ReplayConfig,
    nodes: PoolNode[],
    private readonly tenants: ReplayTenants,
    private readonly states: readonly JobState[],
  ) {
    for (const s of states) {
      if (this.stateById.has(s.job.id)) throw new Error(`duplicate job id ${s.job.id}`);
      this.stateById.set(s.job.id, s);
    }
    this.fifo = config.policy !== 'gpupool';
    this.queue = new ReplayQueue(config.useLanes);
    this.cluster = new ReplayCluster(nodes, config.halfLifeSeconds);
    this.snapshot = this.initialSnapshot();
  }

  run(): void {
    for (;;) {
      const nextEvent = this.nextEventTime();
      if (nextEvent === Number.POSITIVE_INFINITY) break;
      const now = Math.max(nextEvent, this.lastCycle + this.config.intervalSeconds);
      this.admitArrivals(now);
      this.completeFinished(now);
      // Nothing waits: no cycle (and the interval does not restart).
      if (this.queue.count === 0) continue;
      this.runCycle(now);
    }
  }

  private initialSnapshot(): PartitionSnapshot {
    const { config, tenants } = this;
    return {
      gpuModel: GPU_MODEL,
      gpusPerNode: config.gpusPerNode,
      now: new Date(ORIGIN_MS),
      nodes: this.cluster.nodes,
      queued: this.fifo ? this.window : config.useLanes ? [] : this.queue.queued,
      running: this.cluster.running,
      allocations: tenants.allocations,
      entitlementsBasisPoints: tenants.entitlements,
      projectUsage: tenants.projectUsage,
      projectShares: tenants.projectShares,
      settings: policySettings(config.policy, config.halfLifeSeconds, config.starvationAfterSeconds),
      // Each tenant is one program, project and tier: its lane, kept in age order across cycles, lets
      // the domain merge lanes instead of ordering the whole queue every cycle.
      queueLanes: config.useLanes ? [...tenants.byId.values()].map((t) => t.lane) : undefined,
    };
  }

  private nextEventTime(): number {
    const { states, cluster } = this;
    const arrival =
      this.nextArrival < states.length ? states[this.nextArrival].job.submitAt : Number.POSITIVE_INFINITY;
    const completion =
      cluster.completions.size > 0 ? cluster.completions.peekEnd() : Number.POSITIVE_INFINITY;
    return Math.min(arrival, completion);
  }

  /** Queues every job submitted by `now`. */
  private admitArrivals(now: number): void {
    const { states } = this;
    while (this.nextArrival < states.length && states[this.nextArrival].job.submitAt <= now) {
      this.queue.enqueue(states[this.nextArrival++]);
    }
  }

  /** Ends every run that finishes by `now`, at its exact end (stale heap entries are skipped). */
  private completeFinished(now: number): void {
    const { completions } = this.cluster;
    while (completions.size > 0 && completions.peekEnd() <= now) {
      const end = completions.peekEnd();
      const { state, generation } = completions.pop();
      if (generation !== state.generation || state.running === null) continue;
      this.cluster.stop(state, end);
      state.outcome.endAt = end;
      if (end > this.makespan) this.makespan = end;
    }
  }

  private runCycle(now: number): void {
    this.accountUsage(now);
    if (this.fifo) {
      this.queue.fillFifoWindow(this.window, this.cluster.freeGpus, this.config.policy === 'fifo-backfill');
    }
    this.snapshot.now = new Date(ORIGIN_MS + now * 1000);
    if (this.config.checkLanes) this.checkLanes(now);
    const decision = runSchedulingCycle(this.snapshot);
    this.cycles += 1;
    this.lastCycle = now;
    this.applyDecision(decision, now);
    this.queue.compact();
    this.sampleUtilization(decision, now);
  }

  /** Brings every tenant's fair-share usage to `now`, as the snapshot's project usage. */
  private accountUsage(now: number): void {
    for (const t of this.tenants.byId.values()) {
      advanceUsage(t, now, this.config.halfLifeSeconds);
      this.tenants.projectUsage.set(t.id, t.usage);
    }
  }

  private checkLanes(now: number): void {
    const inQueue = this.states.filter((s) => s.queueAt >= 0).map((s) => s.queued);
    const problem =
      inQueue.length === this.queue.count
        ? checkQueueLanes({ queued: inQueue, queueLanes: this.snapshot.queueLanes })
        : `${inQueue.length} jobs queued but ${this.queue.count} counted`;
    if (problem !== null) throw new Error(`queue lanes out of step at t=${now}: ${problem}`);
  }

  /** Preempted jobs back to the queue (their GPUs freed), then the admitted ones started. */
  private applyDecision(decision: CycleDecision, now: number): void {
    for (const p of decision.preempted) {
      const s = this.stateById.get(p.workloadId)!;
      this.cluster.stop(s, now);
      s.outcome.preemptions += 1;
      this.preemptions += 1;
      this.queue.requeue(s);
    }
    for (const a of decision.admitted) {
      const s = this.stateById.get(a.workloadId)!;
      this.queue.dequeue(s);
      this.cluster.start(s, now, a.placement, a.borrowed);
    }
  }

  /** Fragmented: free GPUs enough for the reserved head that still could not place it. */
  private sampleUtilization(decision: CycleDecision, now: number): void {
    const { cluster } = this;
    let fragmented = 0;
    if (decision.reservation) {
      const head = this.stateById.get(decision.reservation.workloadId)!;
      if (head.job.gpus <= cluster.freeGpus) fragmented = cluster.freeGpus;
    }
    this.utilization.push({
      at: now,
      gpusBusy: cluster.totalGpus - cluster.freeGpus,
      gpusTotal: cluster.totalGpus,
      fragmentedGpus: fragmented,
      queued: this.queue.count,
    });
  }
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
