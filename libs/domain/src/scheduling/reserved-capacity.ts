import type {
  Admission,
  AllocationQuota,
  CycleDecision,
  PartitionSnapshot,
  NodeReservation,
  PoolNode,
  Preemption,
  QueuedWorkload,
  RunningWorkload,
  Waiting,
} from './types.js';

/**
 * Reserved servers and the shared queue (DESIGN.md "Allocation … reserved"; issue 7).
 *
 * A partition's snapshot may carry `nodeReservations`: which nodes a reserved allocation holds over
 * which window. A cycle at `now` then runs in passes over disjoint sets of nodes, each pass the
 * ordinary cycle (`runSchedulingCycle`) on a sub-snapshot:
 *
 * 1. OWNER passes, one per allocation holding nodes now: its nodes only, its own queued workloads
 *    (they never run anywhere else), and what runs there. The owner is entitled to all of them, so
 *    other work on them — lent to the queue (pass 3), or admitted before the reservation was
 *    planned and still running when it began — is preempted the moment an owner's workload needs
 *    the GPUs: reclaimed, as the domain's preemption reclaims borrowed capacity.
 * 2. The SHARED pass: the other queued workloads on the nodes no reservation touches before
 *    now + the longest walltime queued (so whatever starts there ends, by its walltime limit,
 *    before any reservation begins), with the partition's own settings (entitlement, fair share,
 *    backfill, preemption). Entitlements are shares of these nodes.
 * 3. LENDING passes over the remaining GPUs: nodes whose reservation starts before that horizon,
 *    and the GPUs an owner leaves idle now. Grouped by their deadline (the next reservation start,
 *    or the owner's window end), rounded down to `LENDING_BUCKET_MS`; a group takes, in queue
 *    order, shared workloads that did not start in pass 2 and whose walltime ends by the group's
 *    earliest deadline. Lent workloads are `borrowed` (preemptible); no preemption, no estimates.
 *
 * Invariants (tested): a node reserved now runs only its owner's work or lent work; lent work on a
 * node ends (walltime) before that node's next reservation or its owner's window end; a reserved
 * allocation's workloads run only on its nodes; nothing changes when there are no reservations.
 *
 * Waiting entries come from pass 2 (and from the owner passes for owners' workloads); a workload
 * lent capacity in pass 3 is no longer listed, and the others keep their pass-2 positions. Owners'
 * workloads whose allocation holds no node now wait `capacity` with a sentence saying so.
 */
export const LENDING_BUCKET_MS = 86_400_000;
const MS_PER_SECOND = 1000;

type Cycle = (snapshot: PartitionSnapshot) => CycleDecision;

/** Who holds which node now, and what is queued for whom: the layout every pass reads. */
interface ReservationLayout {
  /** Allocations with any reservation: their work never runs on the shared nodes. */
  reservedAllocations: Set<string>;
  /** The reservation holding each node now. */
  ownerOf: Map<string, NodeReservation>;
  sharedQueued: QueuedWorkload[];
  ownerQueued: Map<string, QueuedWorkload[]>;
  nodesByOwner: Map<string, PoolNode[]>;
  sharedNodes: PoolNode[];
  /** Nodes free now but taken before the horizon, with the deadline of work lent on them. */
  lendable: { node: PoolNode; deadlineMs: number }[];
}

/** What the passes decided so far, and the GPUs their admissions took per node. */
class PassTally {
  readonly admitted: Admission[] = [];
  readonly preempted: Preemption[] = [];
  readonly waiting: Waiting[] = [];
  readonly takenOnNode = new Map<string, number>();

  take(admission: Admission): void {
    this.admitted.push(admission);
    for (const part of admission.placement) {
      this.takenOnNode.set(part.nodeId, (this.takenOnNode.get(part.nodeId) ?? 0) + part.gpus);
    }
  }
}

/** The pass structure above; `cycle` is the plain cycle (no reservations). */
export function runWithReservations(snapshot: PartitionSnapshot, cycle: Cycle): CycleDecision {
  const layout = layOutReservations(snapshot);
  const reportWaiting = snapshot.settings.reportWaiting !== false;
  const tally = new PassTally();
  runOwnerPasses(snapshot, cycle, layout, tally, reportWaiting);
  const shared = runSharedPass(snapshot, cycle, layout, tally);
  const started = runLendingPasses(snapshot, cycle, layout, tally);

  for (const w of shared.waiting) if (!started.has(w.workloadId)) tally.waiting.push(w);
  const reservation =
    shared.reservation && !started.has(shared.reservation.workloadId) ? shared.reservation : null;
  return {
    admitted: tally.admitted,
    preempted: tally.preempted,
    waiting: reportWaiting ? tally.waiting : [],
    reservation,
  };
}

function layOutReservations(snapshot: PartitionSnapshot): ReservationLayout {
  const nowMs = snapshot.now.getTime();
  const all = snapshot.nodeReservations ?? [];
  // An allocation with any reservation is an owner: its work never runs on the shared nodes.
  const reservedAllocations = new Set([
    ...(snapshot.reservedAllocationIds ?? []),
    ...all.map((r) => r.allocationId),
  ]);
  const reservations = all.filter((r) => r.endsAt.getTime() > nowMs);

  // Who holds each node now, and when each node is next taken (deadline for lent work).
  const ownerOf = new Map<string, NodeReservation>();
  const nextStart = new Map<string, number>();
  for (const r of reservations) {
    const start = r.startsAt.getTime();
    if (start <= nowMs) ownerOf.set(r.nodeId, r);
    else nextStart.set(r.nodeId, Math.min(nextStart.get(r.nodeId) ?? Number.POSITIVE_INFINITY, start));
  }

  const sharedQueued: QueuedWorkload[] = [];
  const ownerQueued = new Map<string, QueuedWorkload[]>();
  for (const w of snapshot.queued) {
    if (!reservedAllocations.has(w.allocationId)) sharedQueued.push(w);
    else push(ownerQueued, w.allocationId, w);
  }
  let horizonMs = 0;
  for (const w of sharedQueued) horizonMs = Math.max(horizonMs, w.walltimeSeconds * MS_PER_SECOND);

  const nodesByOwner = new Map<string, PoolNode[]>();
  const sharedNodes: PoolNode[] = [];
  const lendable: { node: PoolNode; deadlineMs: number }[] = [];
  for (const node of snapshot.nodes) {
    const owner = ownerOf.get(node.id);
    if (owner) {
      push(nodesByOwner, owner.allocationId, node);
      continue;
    }
    const start = nextStart.get(node.id);
    if (start === undefined || start >= nowMs + horizonMs) sharedNodes.push(node);
    else lendable.push({ node, deadlineMs: start });
  }
  return { reservedAllocations, ownerOf, sharedQueued, ownerQueued, nodesByOwner, sharedNodes, lendable };
}

/** 1. Owners: each reserved allocation's queue on its own nodes; what it leaves idle becomes lendable. */
function runOwnerPasses(
  snapshot: PartitionSnapshot,
  cycle: Cycle,
  layout: ReservationLayout,
  tally: PassTally,
  reportWaiting: boolean,
): void {
  for (const allocationId of [...layout.reservedAllocations].sort()) {
    const queued = layout.ownerQueued.get(allocationId) ?? [];
    const nodes = layout.nodesByOwner.get(allocationId) ?? [];
    if (nodes.length === 0) {
      if (reportWaiting) tally.waiting.push(...waitingForReservedServers(queued));
      continue;
    }
    runOwnerPass(snapshot, cycle, allocationId, queued, nodes, tally);
    // What the owner leaves idle until its window ends may be lent.
    for (const node of nodes) {
      layout.lendable.push({ node, deadlineMs: layout.ownerOf.get(node.id)!.endsAt.getTime() });
    }
  }
}

function waitingForReservedServers(queued: readonly QueuedWorkload[]): Waiting[] {
  return queued.map((w, i) => ({
    workloadId: w.id,
    reason: 'capacity',
    detail:
      'Waiting for its reserved servers: the reservation has not started yet or its servers are ' +
      'not in service; it runs only on the servers reserved for its allocation',
    position: i + 1,
    estimatedStartAt: null,
  }));
}

function runOwnerPass(
  snapshot: PartitionSnapshot,
  cycle: Cycle,
  allocationId: string,
  queued: readonly QueuedWorkload[],
  nodes: PoolNode[],
  tally: PassTally,
): void {
  const ownerProgram = `reservation:${allocationId}`;
  const realProgram = new Map<string, string>();
  const nodeIds = new Set(nodes.map((n) => n.id));
  const running = snapshot.running
    .filter((r) => allOn(r, nodeIds))
    .map((r) => {
      // Other work on the owner's nodes is lent, or was admitted before the reservation was
      // planned: either way the owner's window comes first, so it is preemptible here.
      if (r.allocationId !== allocationId) return r.borrowed ? r : { ...r, borrowed: true };
      realProgram.set(ownerProgram, r.programId);
      return { ...r, programId: ownerProgram, borrowed: false };
    });
  const decision = cycle({
    ...snapshot,
    nodes,
    queued: queued.map((w) => {
      realProgram.set(ownerProgram, w.programId);
      return { ...w, programId: ownerProgram };
    }),
    running,
    entitlementsBasisPoints: new Map([[ownerProgram, 10_000]]),
    settings: { ...snapshot.settings, preemption: true, starvationAfterSeconds: undefined },
    queueLanes: undefined,
    nodeReservations: undefined,
    reservedAllocationIds: undefined,
  });
  for (const a of decision.admitted) tally.take({ ...a, borrowed: false });
  for (const p of decision.preempted) {
    tally.preempted.push({
      ...p,
      forProgramId: realProgram.get(p.forProgramId) ?? p.forProgramId,
      reclaimedForAllocationId: allocationId,
    });
  }
  tally.waiting.push(...decision.waiting);
}

/** 2. The shared pool: the other queued workloads on the nodes no reservation touches before the horizon. */
function runSharedPass(
  snapshot: PartitionSnapshot,
  cycle: Cycle,
  layout: ReservationLayout,
  tally: PassTally,
): CycleDecision {
  const sharedIds = new Set(layout.sharedNodes.map((n) => n.id));
  const shared = cycle({
    ...snapshot,
    nodes: layout.sharedNodes,
    queued: layout.sharedQueued,
    running: snapshot.running.filter((r) => allOn(r, sharedIds)),
    queueLanes: undefined,
    nodeReservations: undefined,
    reservedAllocationIds: undefined,
  });
  for (const a of shared.admitted) tally.take(a);
  tally.preempted.push(...shared.preempted);
  return shared;
}

/**
 * 3. Lending, earliest deadline first (short work fills the groups that must empty soonest).
 * Returns the workloads started by any pass.
 */
function runLendingPasses(
  snapshot: PartitionSnapshot,
  cycle: Cycle,
  layout: ReservationLayout,
  tally: PassTally,
): Set<string> {
  const nowMs = snapshot.now.getTime();
  const started = new Set(tally.admitted.map((a) => a.workloadId));
  let allocations = afterAdmissions(snapshot.allocations, tally.admitted, snapshot.queued);
  for (const bucket of lendingBuckets(layout.lendable)) {
    const windowMs = bucket.deadlineMs - nowMs;
    const queued = layout.sharedQueued.filter(
      (w) => !started.has(w.id) && w.walltimeSeconds * MS_PER_SECOND <= windowMs,
    );
    if (queued.length === 0) continue;
    const nodes = bucket.nodes.map((n) => ({
      ...n,
      gpusFree: n.gpusFree - (tally.takenOnNode.get(n.id) ?? 0),
    }));
    if (!nodes.some((n) => n.gpusFree > 0)) continue;
    const ids = new Set(nodes.map((n) => n.id));
    const decision = cycle({
      ...snapshot,
      nodes,
      queued,
      running: snapshot.running.filter((r) => allOn(r, ids)),
      allocations,
      entitlementsBasisPoints: new Map(),
      settings: {
        ...snapshot.settings,
        preemption: false,
        starvationAfterSeconds: undefined,
        estimateLimit: 0,
        reportWaiting: false,
      },
      queueLanes: undefined,
      nodeReservations: undefined,
      reservedAllocationIds: undefined,
    });
    for (const a of decision.admitted) {
      tally.take({ ...a, borrowed: true });
      started.add(a.workloadId);
    }
    allocations = afterAdmissions(allocations, decision.admitted, queued);
  }
  return started;
}

/** Lendable nodes grouped by deadline day (`LENDING_BUCKET_MS`), earliest first. */
function lendingBuckets(
  lendable: readonly { node: PoolNode; deadlineMs: number }[],
): { deadlineMs: number; nodes: PoolNode[] }[] {
  const buckets = new Map<number, { deadlineMs: number; nodes: PoolNode[] }>();
  for (const { node, deadlineMs } of lendable) {
    const key = Math.floor(deadlineMs / LENDING_BUCKET_MS);
    const bucket = buckets.get(key) ?? { deadlineMs, nodes: [] };
    bucket.deadlineMs = Math.min(bucket.deadlineMs, deadlineMs);
    bucket.nodes.push(node);
    buckets.set(key, bucket);
  }
  return [...buckets.keys()].sort((a, b) => a - b).map((key) => buckets.get(key)!);
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function allOn(r: RunningWorkload, nodeIds: ReadonlySet<string>): boolean {
  return r.placement.length > 0 && r.placement.every((p) => nodeIds.has(p.nodeId));
}

/** Allocation quotas after `admitted` took their holds and GPUs. */
function afterAdmissions(
  allocations: ReadonlyMap<string, AllocationQuota>,
  admitted: readonly Admission[],
  queued: readonly QueuedWorkload[],
): ReadonlyMap<string, AllocationQuota> {
  if (admitted.length === 0) return allocations;
  const byId = new Map(queued.map((w) => [w.id, w]));
  const next = new Map(allocations);
  for (const a of admitted) {
    const w = byId.get(a.workloadId);
    if (!w) continue;
    const quota = next.get(w.allocationId);
    if (!quota) continue;
    next.set(w.allocationId, {
      ...quota,
      remainingGpuSeconds: quota.remainingGpuSeconds - a.holdGpuSeconds,
      gpusInUse: quota.gpusInUse + w.gpus,
    });
  }
  return next;
}
