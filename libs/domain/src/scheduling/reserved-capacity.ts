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

/** The pass structure above; `cycle` is the plain cycle (no reservations). */
export function runWithReservations(snapshot: PartitionSnapshot, cycle: Cycle): CycleDecision {
  const nowMs = snapshot.now.getTime();
  const all = snapshot.nodeReservations ?? [];
  // An allocation with any reservation is an owner: its work never runs on the shared nodes.
  const reservedAllocations = new Set([
    ...(snapshot.reservedAllocationIds ?? []),
    ...all.map((r) => r.allocationId),
  ]);
  const reservations = all.filter((r) => r.endsAt.getTime() > nowMs);
  const reportWaiting = snapshot.settings.reportWaiting !== false;

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

  const admitted: Admission[] = [];
  const preempted: Preemption[] = [];
  const waiting: Waiting[] = [];
  const takenOnNode = new Map<string, number>();
  const take = (admission: Admission): void => {
    admitted.push(admission);
    for (const part of admission.placement) {
      takenOnNode.set(part.nodeId, (takenOnNode.get(part.nodeId) ?? 0) + part.gpus);
    }
  };

  // 1. Owners.
  for (const allocationId of [...reservedAllocations].sort()) {
    const queued = ownerQueued.get(allocationId) ?? [];
    const nodes = nodesByOwner.get(allocationId) ?? [];
    if (nodes.length === 0) {
      if (reportWaiting) {
        queued.forEach((w, i) =>
          waiting.push({
            workloadId: w.id,
            reason: 'capacity',
            detail:
              'Waiting for its reserved servers: the reservation has not started yet or its servers are ' +
              'not in service; it runs only on the servers reserved for its allocation',
            position: i + 1,
            estimatedStartAt: null,
          }),
        );
      }
      continue;
    }
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
    for (const a of decision.admitted) take({ ...a, borrowed: false });
    for (const p of decision.preempted) {
      preempted.push({
        ...p,
        forProgramId: realProgram.get(p.forProgramId) ?? p.forProgramId,
        reclaimedForAllocationId: allocationId,
      });
    }
    waiting.push(...decision.waiting);
    // What the owner leaves idle until its window ends may be lent.
    for (const node of nodes) lendable.push({ node, deadlineMs: ownerOf.get(node.id)!.endsAt.getTime() });
  }

  // 2. The shared pool.
  const sharedIds = new Set(sharedNodes.map((n) => n.id));
  const shared = cycle({
    ...snapshot,
    nodes: sharedNodes,
    queued: sharedQueued,
    running: snapshot.running.filter((r) => allOn(r, sharedIds)),
    queueLanes: undefined,
    nodeReservations: undefined,
    reservedAllocationIds: undefined,
  });
  for (const a of shared.admitted) take(a);
  preempted.push(...shared.preempted);

  // 3. Lending, earliest deadline first (short work fills the groups that must empty soonest).
  const started = new Set(admitted.map((a) => a.workloadId));
  let allocations = afterAdmissions(snapshot.allocations, admitted, snapshot.queued);
  const buckets = new Map<number, { deadlineMs: number; nodes: PoolNode[] }>();
  for (const { node, deadlineMs } of lendable) {
    const key = Math.floor(deadlineMs / LENDING_BUCKET_MS);
    const bucket = buckets.get(key) ?? { deadlineMs, nodes: [] };
    bucket.deadlineMs = Math.min(bucket.deadlineMs, deadlineMs);
    bucket.nodes.push(node);
    buckets.set(key, bucket);
  }
  for (const key of [...buckets.keys()].sort((a, b) => a - b)) {
    const bucket = buckets.get(key)!;
    const windowMs = bucket.deadlineMs - nowMs;
    const queued = sharedQueued.filter(
      (w) => !started.has(w.id) && w.walltimeSeconds * MS_PER_SECOND <= windowMs,
    );
    if (queued.length === 0) continue;
    const nodes = bucket.nodes.map((n) => ({ ...n, gpusFree: n.gpusFree - (takenOnNode.get(n.id) ?? 0) }));
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
      take({ ...a, borrowed: true });
      started.add(a.workloadId);
    }
    allocations = afterAdmissions(allocations, decision.admitted, queued);
  }

  for (const w of shared.waiting) if (!started.has(w.workloadId)) waiting.push(w);
  const reservation =
    shared.reservation && !started.has(shared.reservation.workloadId) ? shared.reservation : null;
  return { admitted, preempted, waiting: reportWaiting ? waiting : [], reservation };
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
