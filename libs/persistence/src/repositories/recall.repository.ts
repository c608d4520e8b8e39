import type { DataSource, EntityManager } from 'typeorm';
import {
  allocationAccount,
  chooseServersToRelease,
  consumedAccount,
  conflict,
  evaluateRecallRules,
  evaluateReservedRecallRules,
  formatGpuHoursForPeople,
  holdAccount,
  isDomainError,
  notFound,
  parseRecallRules,
  recallRuleDueAt,
  recallTransaction,
  releaseInstant,
  releasedGpuSeconds,
  reservedUtilization,
  serversToReleaseOnConfirm,
  type HeldServerSpan,
  type RecallProposal,
  type RecallRule,
  type ReservedUtilization,
  ACTIVE_WORKLOAD_STATES,
} from '#domain';
import { accountBalances, postLedgerTransaction } from './ledger.repository.js';
import { recordNotification } from './notifications.repository.js';
import { releaseReservedServers } from './reservation.repository.js';
import { lockPartition } from './partition.repository.js';

/** Allocations proposed for in one transaction: bounds a sweep's transactions over thousands of them. */
const PROPOSALS_PER_TRANSACTION = 200;

export const RECALL_PROPOSAL_STATUSES = ['proposed', 'confirmed', 'dismissed'] as const;
export type RecallProposalStatus = (typeof RECALL_PROPOSAL_STATUSES)[number];

export interface RecallSweepResult {
  /** Proposals this run created (a concurrent or repeated run creates none for the same rule). */
  proposals: number;
  /** Webhook deliveries of the `recall_proposed` notifications: enqueue after this returns. */
  deliveryIds: string[];
  /** Programs whose stored recall rules cannot be read: skipped until an operator fixes them. */
  misconfiguredPrograms: string[];
}

interface CandidateRow {
  id: string;
  project_id: string;
  program_id: string;
  gpu_model: string;
  kind: string;
  servers: number | null;
  starts_at: Date;
  ends_at: Date;
  recall_rules: unknown;
  proposed_rule_ids: string[];
}

interface Candidate {
  allocationId: string;
  projectId: string;
  programId: string;
  gpuModel: string;
  /** Reserved allocations: servers granted (their rules release servers); null for budget ones. */
  servers: number | null;
  windowStart: Date;
  windowEnd: Date;
  rules: RecallRule[];
  alreadyProposed: Set<string>;
}

/** A proposal of either kind: reserved ones release `servers` of `serversHeld` early. */
type AnyProposal = RecallProposal & { servers?: number; serversHeld?: number };

/** What a reserved allocation's servers have been held for and used, read for rules and people. */
export interface ReservedUsage {
  /** Every span its reservation's servers are held (released ones end at their release). */
  spans: HeldServerSpan[];
  /** Servers still held after the instant asked about. */
  serversHeld: number;
  /** GPUs per node of its servers (0 while it holds none). */
  gpusPerNode: number;
  utilization: ReservedUtilization;
}

/**
 * Utilization of reserved allocations at `now` (libs/domain reservedUtilization): metered GPU-seconds
 * (the consumed account) against the GPU-seconds their servers were held so far. Two queries for any
 * number of allocations; an allocation without a reservation (pending, waitlisted) has no spans.
 */
export async function reservedUsage(
  manager: EntityManager,
  allocationIds: readonly string[],
  now: Date,
): Promise<Map<string, ReservedUsage>> {
  const result = new Map<string, ReservedUsage>();
  if (allocationIds.length === 0) return result;
  const rows = await manager.query<
    { allocation_id: string; node_id: string; gpus: number; starts_at: Date; ends_at: Date }[]
  >(
    `SELECT r.allocation_id, rn.node_id, n.gpus_total AS gpus, lower(rn.during) AS starts_at,
            upper(rn.during) AS ends_at
       FROM reservations r
       JOIN reservation_nodes rn ON rn.reservation_id = r.id
       JOIN nodes n ON n.id = rn.node_id
      WHERE r.allocation_id = ANY($1)
      ORDER BY r.allocation_id, rn.node_id`,
    [allocationIds],
  );
  const consumed = await accountBalances(manager, allocationIds.map(consumedAccount));
  for (const id of allocationIds) {
    const spans = rows
      .filter((row) => row.allocation_id === id)
      .map((row) => ({
        nodeId: row.node_id,
        gpus: row.gpus,
        startsAt: new Date(row.starts_at),
        endsAt: new Date(row.ends_at),
      }));
    result.set(id, {
      spans,
      serversHeld: spans.filter((span) => span.endsAt.getTime() > now.getTime()).length,
      gpusPerNode: spans.reduce((most, span) => Math.max(most, span.gpus), 0),
      utilization: reservedUtilization(consumed.get(consumedAccount(id)) ?? 0n, spans, now),
    });
  }
  return result;
}

/**
 * The use-it-or-lose-it sweep: for every active allocation inside its window whose program has
 * recall rules, the rules due now become `proposed` rows, at most one per (allocation, rule) whatever
 * runs twice or concurrently (unique index, insert-or-ignore), each announced once to the project
 * (`recall_proposed`). Nothing is taken here: an admin confirms.
 *
 * Budget allocations are judged by libs/domain evaluateRecallRules (GPU-seconds of the remainder);
 * reserved ones by evaluateReservedRecallRules (K servers released early, judged on the utilization of
 * the server time reserved so far) and only while their reservation holds servers — a pending or
 * waitlisted reserved allocation has nothing to release.
 *
 * Reads are batched: one query for the allocations with their programs' rules and the rule ids
 * already proposed, one for the grants, one for the balances of those with a rule due and two for
 * the reservations of the reserved ones.
 */
export async function proposeRecalls(dataSource: DataSource, now: Date): Promise<RecallSweepResult> {
  const result: RecallSweepResult = { proposals: 0, deliveryIds: [], misconfiguredPrograms: [] };
  const rows = await dataSource.query<CandidateRow[]>(
    `SELECT a.id, a.project_id, a.program_id, a.gpu_model, a.kind, a.servers, a.starts_at, a.ends_at, p.recall_rules,
            coalesce((SELECT array_agg(r.rule_id) FROM recall_proposals r WHERE r.allocation_id = a.id),
                     '{}') AS proposed_rule_ids
       FROM allocations a JOIN programs p ON p.id = a.program_id
      WHERE a.status = 'active' AND a.starts_at <= $1 AND $1 < a.ends_at
        AND jsonb_typeof(p.recall_rules) = 'array' AND jsonb_array_length(p.recall_rules) > 0
      ORDER BY a.id`,
    [now],
  );
  const rulesByProgram = new Map<string, RecallRule[] | null>();
  const candidates: Candidate[] = [];
  for (const row of rows) {
    if (!rulesByProgram.has(row.program_id)) {
      rulesByProgram.set(row.program_id, readStoredRules(row.recall_rules));
    }
    const rules = rulesByProgram.get(row.program_id) ?? null;
    if (rules === null) continue;
    const candidate: Candidate = {
      allocationId: row.id,
      projectId: row.project_id,
      programId: row.program_id,
      gpuModel: row.gpu_model,
      servers: row.kind === 'reserved' ? (row.servers ?? 0) : null,
      windowStart: new Date(row.starts_at),
      windowEnd: new Date(row.ends_at),
      rules,
      alreadyProposed: new Set(row.proposed_rule_ids),
    };
    // Only allocations with a rule due and not yet proposed need their balances read.
    if (anyRuleDue(candidate, now)) candidates.push(candidate);
  }
  result.misconfiguredPrograms = [...rulesByProgram].filter(([, rules]) => rules === null).map(([id]) => id);
  if (candidates.length === 0) return result;

  const ids = candidates.map((candidate) => candidate.allocationId);
  const granted = await grantedInto(dataSource.manager, ids);
  const balances = await accountBalances(
    dataSource.manager,
    ids.flatMap((id) => [allocationAccount(id), holdAccount(id), consumedAccount(id)]),
  );
  const reserved = await reservedUsage(
    dataSource.manager,
    candidates.filter((candidate) => candidate.servers !== null).map((candidate) => candidate.allocationId),
    now,
  );
  const due: { candidate: Candidate; proposal: AnyProposal }[] = [];
  for (const candidate of candidates) {
    const id = candidate.allocationId;
    const usage = reserved.get(id);
    if (candidate.servers !== null) {
      if (!usage) continue;
      const proposals = evaluateReservedRecallRules(candidate.rules, {
        allocationId: id,
        serversGranted: candidate.servers,
        serversHeld: usage.serversHeld,
        gpusPerNode: usage.gpusPerNode,
        usedGpuSeconds: usage.utilization.usedGpuSeconds,
        reservedGpuSeconds: usage.utilization.reservedGpuSeconds,
        remaining: balances.get(allocationAccount(id)) ?? 0n,
        windowStart: candidate.windowStart,
        windowEnd: candidate.windowEnd,
        now,
        alreadyProposedRuleIds: candidate.alreadyProposed,
      });
      for (const proposal of proposals) due.push({ candidate, proposal });
      continue;
    }
    const proposals = evaluateRecallRules(candidate.rules, {
      allocationId: id,
      granted: granted.get(id) ?? 0n,
      consumed: balances.get(consumedAccount(id)) ?? 0n,
      held: balances.get(holdAccount(id)) ?? 0n,
      remaining: balances.get(allocationAccount(id)) ?? 0n,
      windowStart: candidate.windowStart,
      windowEnd: candidate.windowEnd,
      now,
      alreadyProposedRuleIds: candidate.alreadyProposed,
    });
    for (const proposal of proposals) due.push({ candidate, proposal });
  }
  // One lock order for every run: concurrent sweeps wait on each other's rows, never deadlock.
  due.sort((a, b) => compareKeys(a.proposal, b.proposal));
  for (let start = 0; start < due.length; start += PROPOSALS_PER_TRANSACTION) {
    const chunk = due.slice(start, start + PROPOSALS_PER_TRANSACTION);
    await dataSource.transaction(async (manager) => {
      const inserted = await manager.query<{ id: string; allocation_id: string; rule_id: string }[]>(
        `INSERT INTO recall_proposals
           (allocation_id, program_id, rule_id, gpu_seconds, used_basis_points, reason, status, due_at,
            servers, servers_held)
         SELECT v.allocation_id, v.program_id, v.rule_id, v.gpu_seconds, v.used_basis_points, v.reason,
                'proposed', v.due_at, v.servers, v.servers_held
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::int[], $6::text[], $7::timestamptz[],
                       $8::int[], $9::int[])
             AS v(allocation_id, program_id, rule_id, gpu_seconds, used_basis_points, reason, due_at, servers,
                  servers_held)
         ON CONFLICT (allocation_id, rule_id) DO NOTHING
         RETURNING id, allocation_id, rule_id`,
        [
          chunk.map((item) => item.proposal.allocationId),
          chunk.map((item) => item.candidate.programId),
          chunk.map((item) => item.proposal.ruleId),
          chunk.map((item) => item.proposal.gpuSeconds.toString()),
          chunk.map((item) => item.proposal.usedBasisPoints),
          chunk.map((item) => item.proposal.reason),
          chunk.map((item) => item.proposal.dueAt.toISOString()),
          chunk.map((item) => item.proposal.servers ?? null),
          chunk.map((item) => item.proposal.serversHeld ?? null),
        ],
      );
      const byKey = new Map(
        chunk.map((item) => [`${item.proposal.allocationId}|${item.proposal.ruleId}`, item]),
      );
      for (const row of inserted) {
        const item = byKey.get(`${row.allocation_id}|${row.rule_id}`);
        if (!item) continue;
        const { candidate, proposal } = item;
        const servers = proposal.servers;
        const recorded = await recordNotification(manager, {
          projectId: candidate.projectId,
          allocationId: candidate.allocationId,
          kind: 'recall_proposed',
          dedupeKey: `recall_proposed:${row.id}`,
          title: `Recall proposed: ${candidate.gpuModel} allocation`,
          body:
            servers === undefined
              ? `Up to ${hours(proposal.gpuSeconds)} of allocation ${candidate.allocationId} (${candidate.gpuModel}) ` +
                `may be recalled. ${proposal.reason} An administrator of the program will confirm or dismiss ` +
                `this proposal; nothing is taken until then, and never more than is unused at that moment.`
              : `${servers} of the ${proposal.serversHeld ?? servers} reserved ${candidate.gpuModel} servers of ` +
                `allocation ${candidate.allocationId} may be released early. ${proposal.reason} An administrator ` +
                `of the program will confirm or dismiss this proposal; nothing is released until then, and ` +
                `never your last server unless the rule recalls them all.`,
          data: {
            proposalId: row.id,
            ruleId: proposal.ruleId,
            gpuSeconds: proposal.gpuSeconds.toString(),
            usedBasisPoints: proposal.usedBasisPoints,
            dueAt: proposal.dueAt.toISOString(),
            ...(servers === undefined ? {} : { servers, serversHeld: proposal.serversHeld }),
          },
        });
        if (recorded) result.deliveryIds.push(...recorded.deliveryIds);
        result.proposals += 1;
      }
    });
  }
  return result;
}

export interface RecallDecision {
  /** What went back to the program: the proposal capped at the allocation's balance then; may be 0. */
  recalledGpuSeconds: bigint;
  /** Webhook deliveries of the `recall_confirmed` notification: enqueue after commit. */
  deliveryIds: string[];
  /**
   * Reserved allocations only: the servers released at `at`. When any were, the caller re-plans the
   * GPU model's waitlist and runs its scheduling cycle after commit, as the admin release does.
   */
  release?: { gpuModel: string; at: Date; releasedNodeIds: string[] };
}

interface LockedProposal {
  id: string;
  allocation_id: string;
  program_id: string;
  rule_id: string;
  gpu_seconds: string;
  status: string;
  decided_at: Date | null;
  servers: number | null;
  servers_held: number | null;
}

interface LockedAllocation {
  id: string;
  project_id: string;
  program_id: string;
  gpu_model: string;
}

/**
 * Confirms a proposed recall, in the caller's transaction: the proposal and its allocation are
 * locked (proposal, then the allocation's scheduling partition, then the allocation row — the order
 * admission and cancellation use — so no admission spends the same balance meanwhile); what returns
 * to the program is min(proposal, the allocation account's balance now), posted once
 * (`recall:<proposalId>`); the proposal becomes `confirmed`, and the project is told.
 * A proposal already decided is a 409 ILLEGAL_TRANSITION.
 *
 * A reserved allocation's proposal releases servers instead (confirmServerRecall).
 */
export async function confirmRecall(
  manager: EntityManager,
  proposalId: string,
  adminUserId: string,
  now: Date,
  requestId: string | null = null,
): Promise<RecallDecision> {
  const proposal = await lockProposal(manager, proposalId, 'confirm');
  const allocation = await lockAllocation(manager, proposal.allocation_id);
  if (proposal.servers !== null) {
    return confirmServerRecall(manager, proposal, allocation, { adminUserId, now, requestId });
  }
  const account = allocationAccount(allocation.id);
  const balance = (await accountBalances(manager, [account])).get(account) ?? 0n;
  const proposed = BigInt(proposal.gpu_seconds);
  const recalled = balance <= 0n ? 0n : balance < proposed ? balance : proposed;
  if (recalled > 0n) {
    await postLedgerTransaction(
      manager,
      recallTransaction({
        programId: allocation.program_id,
        gpuModel: allocation.gpu_model,
        allocationId: allocation.id,
        proposalId,
        gpuSeconds: recalled,
      }),
    );
  }
  await manager.query(
    `UPDATE recall_proposals
        SET status = 'confirmed', decided_by = $2, decided_at = $3, recalled_gpu_seconds = $4
      WHERE id = $1`,
    [proposalId, adminUserId, now, recalled.toString()],
  );
  const left = balance - recalled;
  const body =
    recalled === 0n
      ? `An administrator confirmed the recall proposed for allocation ${allocation.id} (${allocation.gpu_model}) ` +
        `under rule "${proposal.rule_id}", but nothing was recalled: the allocation had no unused balance left ` +
        `(it was used or held by running workloads since the proposal).`
      : `An administrator confirmed the recall of ${hours(recalled)} from allocation ${allocation.id} ` +
        `(${allocation.gpu_model}) under rule "${proposal.rule_id}"` +
        (recalled < proposed
          ? ` (${hours(proposed)} were proposed; only ${hours(recalled)} were unused)`
          : '') +
        `: they went back to the program for projects on the waitlist. ${hours(left > 0n ? left : 0n)} remain ` +
        `to admit workloads against.`;
  const recorded = await recordNotification(manager, {
    projectId: allocation.project_id,
    allocationId: allocation.id,
    kind: 'recall_confirmed',
    dedupeKey: `recall_confirmed:${proposalId}`,
    title: `Recall confirmed: ${allocation.gpu_model} allocation`,
    body,
    data: {
      proposalId,
      ruleId: proposal.rule_id,
      proposedGpuSeconds: proposed.toString(),
      recalledGpuSeconds: recalled.toString(),
    },
  });
  return { recalledGpuSeconds: recalled, deliveryIds: recorded?.deliveryIds ?? [] };
}

/**
 * Confirms a reserved allocation's proposal to release K servers early, in confirmRecall's locks:
 *
 * - when: from the release instant, now rounded up to the whole second (as the admin release does);
 * - how many: serversToReleaseOnConfirm — the K proposed, at most what the reservation still holds,
 *   never its last server unless the proposal recalled every server it held;
 * - which: chooseServersToRelease — those the allocation's running workloads occupy the fewest GPUs of
 *   now, then the highest node ids (usage per node over the window is not recorded);
 * - through releaseReservedServers, the admin release endpoint's code path (spans cut at the release
 *   instant, the reservation `released` once it holds nothing, an `allocation.reservation_released`
 *   audit event);
 * - the ledger: the released server time, Σ GPUs × seconds from the release to each span's end
 *   (K × GPUs per node × remaining window seconds), capped at the allocation account's balance, goes
 *   allocation → program once (`recall:<proposalId>`), exactly as a budget recall returns GPU-seconds.
 *
 * The caller enqueues `planning.replan` and `schedule.cycle` for the model after commit (`release`).
 */
async function confirmServerRecall(
  manager: EntityManager,
  proposal: LockedProposal,
  allocation: LockedAllocation,
  context: { adminUserId: string; now: Date; requestId: string | null },
): Promise<RecallDecision> {
  const at = releaseInstant(context.now);
  const [reservation] = await manager.query<{ id: string }[]>(
    'SELECT id FROM reservations WHERE allocation_id = $1 FOR UPDATE',
    [allocation.id],
  );
  const held =
    reservation === undefined
      ? []
      : await manager.query<
          { node_id: string; gpus: number; starts_at: Date; ends_at: Date; busy_gpus: number }[]
        >(
          `SELECT rn.node_id, n.gpus_total AS gpus, lower(rn.during) AS starts_at, upper(rn.during) AS ends_at,
                  coalesce((SELECT sum(p.gpus) FROM workload_placements p JOIN workloads w ON w.id = p.workload_id
                             WHERE p.node_id = rn.node_id AND w.allocation_id = $3 AND w.state = ANY($4)), 0)::int
                    AS busy_gpus
             FROM reservation_nodes rn JOIN nodes n ON n.id = rn.node_id
            WHERE rn.reservation_id = $1 AND upper(rn.during) > $2::timestamptz`,
          [reservation.id, at, allocation.id, [...ACTIVE_WORKLOAD_STATES]],
        );
  const proposed = proposal.servers ?? 0;
  const count = serversToReleaseOnConfirm(
    { servers: proposed, serversHeld: proposal.servers_held ?? proposed },
    held.length,
  );
  const chosen = chooseServersToRelease(
    held.map((row) => ({ nodeId: row.node_id, busyGpus: row.busy_gpus })),
    count,
  );
  let releasedNodeIds: string[] = [];
  if (chosen.length > 0) {
    const outcome = await releaseReservedServers(manager, allocation.id, chosen, at, {
      actorId: context.adminUserId,
      actorKind: 'user',
      requestId: context.requestId,
      reason: `recall proposal ${proposal.id} (rule "${proposal.rule_id}") confirmed`,
    });
    releasedNodeIds = outcome.releasedNodeIds;
  }
  const chosenIds = new Set(chosen);
  const serverTime = releasedGpuSeconds(
    held
      .filter((row) => chosenIds.has(row.node_id))
      .map((row) => ({ gpus: row.gpus, startsAt: new Date(row.starts_at), endsAt: new Date(row.ends_at) })),
    at,
  );
  const account = allocationAccount(allocation.id);
  const balance = (await accountBalances(manager, [account])).get(account) ?? 0n;
  const recalled = balance <= 0n ? 0n : balance < serverTime ? balance : serverTime;
  if (recalled > 0n) {
    await postLedgerTransaction(
      manager,
      recallTransaction({
        programId: allocation.program_id,
        gpuModel: allocation.gpu_model,
        allocationId: allocation.id,
        proposalId: proposal.id,
        gpuSeconds: recalled,
      }),
    );
  }
  await manager.query(
    `UPDATE recall_proposals
        SET status = 'confirmed', decided_by = $2, decided_at = $3, recalled_gpu_seconds = $4, released_servers = $5
      WHERE id = $1`,
    [proposal.id, context.adminUserId, context.now, recalled.toString(), chosen.length],
  );
  const kept = held.length - chosen.length;
  const body =
    chosen.length === 0
      ? `An administrator confirmed the early release of ${plural(proposed, 'server')} of allocation ` +
        `${allocation.id} (${allocation.gpu_model}) under rule "${proposal.rule_id}", but none was released: ` +
        `the reservation ${held.length === 0 ? 'holds no server any more' : `holds only ${plural(held.length, 'server')}, which it keeps`}.`
      : `An administrator confirmed the early release of ${plural(chosen.length, 'server')} of allocation ` +
        `${allocation.id} (${allocation.gpu_model}) under rule "${proposal.rule_id}"` +
        (chosen.length < proposed ? ` (${proposed} were proposed; servers were released since)` : '') +
        `: from ${at.toISOString()} they went back to the calendar for projects on the waitlist, with ` +
        `${hours(recalled)} of their remaining server time returned to the program. The reservation keeps ` +
        `${plural(kept, 'server')} to the end of its window.`;
  const recorded = await recordNotification(manager, {
    projectId: allocation.project_id,
    allocationId: allocation.id,
    kind: 'recall_confirmed',
    dedupeKey: `recall_confirmed:${proposal.id}`,
    title: `Recall confirmed: ${allocation.gpu_model} allocation`,
    body,
    data: {
      proposalId: proposal.id,
      ruleId: proposal.rule_id,
      proposedGpuSeconds: proposal.gpu_seconds,
      recalledGpuSeconds: recalled.toString(),
      proposedServers: proposed,
      releasedServers: chosen.length,
      releasedNodeIds,
      releasedAt: at.toISOString(),
    },
  });
  return {
    recalledGpuSeconds: recalled,
    deliveryIds: recorded?.deliveryIds ?? [],
    release: { gpuModel: allocation.gpu_model, at, releasedNodeIds },
  };
}

/** Dismisses a proposed recall (nothing is taken), in the caller's transaction; 409 once decided. */
export async function dismissRecall(
  manager: EntityManager,
  proposalId: string,
  adminUserId: string,
  now: Date,
): Promise<void> {
  await lockProposal(manager, proposalId, 'dismiss');
  await manager.query(
    `UPDATE recall_proposals SET status = 'dismissed', decided_by = $2, decided_at = $3 WHERE id = $1`,
    [proposalId, adminUserId, now],
  );
}

async function lockProposal(
  manager: EntityManager,
  proposalId: string,
  action: 'confirm' | 'dismiss',
): Promise<LockedProposal> {
  if (!manager.queryRunner?.isTransactionActive) {
    throw new Error(`${action}Recall must run inside a transaction`);
  }
  const rows = await manager.query<LockedProposal[]>(
    `SELECT id, allocation_id, program_id, rule_id, gpu_seconds::text AS gpu_seconds, status, decided_at,
            servers, servers_held
       FROM recall_proposals WHERE id = $1 FOR UPDATE`,
    [proposalId],
  );
  const proposal = rows[0];
  if (!proposal) throw notFound('Recall proposal', proposalId);
  if (proposal.status !== 'proposed') {
    const when = proposal.decided_at ? ` at ${new Date(proposal.decided_at).toISOString()}` : '';
    throw conflict(
      'ILLEGAL_TRANSITION',
      `Recall proposal ${proposalId} was already ${proposal.status}${when}; only proposed recalls can be ` +
        `confirmed or dismissed. List the open ones with GET /v1/recall-proposals?status=proposed.`,
      { status: proposal.status, action },
    );
  }
  return proposal;
}

async function lockAllocation(manager: EntityManager, allocationId: string): Promise<LockedAllocation> {
  const peek = await manager.query<{ gpu_model: string }[]>(
    'SELECT gpu_model FROM allocations WHERE id = $1',
    [allocationId],
  );
  const gpuModel = peek[0]?.gpu_model;
  if (gpuModel === undefined) throw notFound('Allocation', allocationId);
  // The admission cycle reads balances under this lock: a recall and an admission never both spend it.
  await lockPartition(manager, gpuModel);
  const rows = await manager.query<LockedAllocation[]>(
    'SELECT id, project_id, program_id, gpu_model FROM allocations WHERE id = $1 FOR NO KEY UPDATE',
    [allocationId],
  );
  const [allocation] = rows;
  if (allocation === undefined) throw notFound('Allocation', allocationId);
  return allocation;
}

/** Per allocation: GPU-seconds granted into it (positive `grant` entries), one grouped query. */
async function grantedInto(manager: EntityManager, allocationIds: string[]): Promise<Map<string, bigint>> {
  const rows = await manager.query<{ account: string; granted: string }[]>(
    `SELECT e.account, sum(e.amount)::text AS granted
       FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
      WHERE e.account = ANY($1) AND t.kind = 'grant' AND e.amount > 0
      GROUP BY e.account`,
    [allocationIds.map(allocationAccount)],
  );
  const prefix = 'allocation:'.length;
  return new Map(rows.map((row) => [row.account.slice(prefix), BigInt(row.granted)]));
}

function readStoredRules(json: unknown): RecallRule[] | null {
  try {
    return parseRecallRules(json);
  } catch (error) {
    if (isDomainError(error)) return null;
    throw error;
  }
}

function anyRuleDue(candidate: Candidate, now: Date): boolean {
  const at = now.getTime();
  return candidate.rules.some(
    (rule) =>
      !candidate.alreadyProposed.has(rule.id) &&
      recallRuleDueAt(rule, candidate.windowStart, candidate.windowEnd).getTime() <= at &&
      at < candidate.windowEnd.getTime(),
  );
}

function compareKeys(a: RecallProposal, b: RecallProposal): number {
  const left = `${a.allocationId}|${a.ruleId}`;
  const right = `${b.allocationId}|${b.ruleId}`;
  return left < right ? -1 : left > right ? 1 : 0;
}

function hours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hours`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
