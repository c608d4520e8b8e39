import { Injectable } from '@nestjs/common';
import {
  allocationAccount,
  anyRecallRuleDue,
  compareRecallProposals,
  consumedAccount,
  holdAccount,
  readStoredRecallRules,
  recallProposalsFor,
  type AnyRecallProposal,
  type RecallCandidate,
  type RecallRule,
} from '#domain';
import {
  NotificationsRepository,
  RecallRepository,
  TransactionRunner,
  type RecallCandidateRow,
} from '#persistence';
import { recallProposedNotice } from './recall-notices.js';

/** Allocations proposed for in one transaction: bounds a sweep's transactions over thousands of them. */
const PROPOSALS_PER_TRANSACTION = 200;

export interface RecallSweepResult {
  /** Proposals this run created (a concurrent or repeated run creates none for the same rule). */
  proposals: number;
  /** Webhook deliveries of the `recall_proposed` notifications: enqueue after this returns. */
  deliveryIds: string[];
  /** Programs whose stored recall rules cannot be read: skipped until an operator fixes them. */
  misconfiguredPrograms: string[];
}

interface DueProposal {
  candidate: RecallCandidate;
  proposal: AnyRecallProposal;
}

/**
 * The use-it-or-lose-it sweep: for every active allocation inside its window whose program has
 * recall rules, the rules due now become `proposed` rows, at most one per (allocation, rule) whatever
 * runs twice or concurrently (unique index, insert-or-ignore), each announced once to the project
 * (`recall_proposed`). Nothing is taken here: an admin confirms.
 *
 * The rules are libs/domain's (recallProposalsFor): budget allocations give back GPU-seconds of the
 * remainder, reserved ones release K servers early and only while their reservation holds servers.
 * Reads are batched: the candidates with their programs' rules and the rule ids already proposed,
 * then grants, balances and reservations only of those with a rule due.
 */
@Injectable()
export class ProposeRecallsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly recalls: RecallRepository,
    private readonly notifications: NotificationsRepository,
  ) {}

  async execute(now: Date): Promise<RecallSweepResult> {
    const result: RecallSweepResult = { proposals: 0, deliveryIds: [], misconfiguredPrograms: [] };
    const { candidates, misconfiguredPrograms } = dueCandidates(await this.recalls.candidates(now), now);
    result.misconfiguredPrograms = misconfiguredPrograms;
    if (candidates.length === 0) return result;
    const due = await this.evaluate(candidates, now);
    for (let start = 0; start < due.length; start += PROPOSALS_PER_TRANSACTION) {
      await this.propose(due.slice(start, start + PROPOSALS_PER_TRANSACTION), result);
    }
    return result;
  }

  /** The proposals the candidates' rules make now, in the one lock order of every sweep. */
  private async evaluate(candidates: readonly RecallCandidate[], now: Date): Promise<DueProposal[]> {
    const ids = candidates.map((candidate) => candidate.allocationId);
    const granted = await this.recalls.grantedInto(ids);
    const balances = await this.recalls.balances(
      ids.flatMap((id) => [allocationAccount(id), holdAccount(id), consumedAccount(id)]),
    );
    const reserved = await this.recalls.reservedUsage(
      candidates.filter((candidate) => candidate.servers !== null).map((candidate) => candidate.allocationId),
      now,
    );
    const due: DueProposal[] = [];
    for (const candidate of candidates) {
      const id = candidate.allocationId;
      const usage = reserved.get(id);
      const proposals = recallProposalsFor(
        candidate,
        {
          granted: granted.get(id) ?? 0n,
          consumed: balances.get(consumedAccount(id)) ?? 0n,
          held: balances.get(holdAccount(id)) ?? 0n,
          remaining: balances.get(allocationAccount(id)) ?? 0n,
          reserved: usage && {
            serversHeld: usage.serversHeld,
            gpusPerNode: usage.gpusPerNode,
            usedGpuSeconds: usage.utilization.usedGpuSeconds,
            reservedGpuSeconds: usage.utilization.reservedGpuSeconds,
          },
        },
        now,
      );
      for (const proposal of proposals) due.push({ candidate, proposal });
    }
    // One lock order for every run: concurrent sweeps wait on each other's rows, never deadlock.
    return due.sort((a, b) => compareRecallProposals(a.proposal, b.proposal));
  }

  /** One transaction: the proposals not made yet, each announced to its project. */
  private async propose(chunk: readonly DueProposal[], result: RecallSweepResult): Promise<void> {
    await this.transactions.run(async (tx) => {
      const inserted = await this.recalls.insertProposals(
        tx,
        chunk.map((item) => ({ proposal: item.proposal, programId: item.candidate.programId })),
      );
      const byKey = new Map(
        chunk.map((item) => [`${item.proposal.allocationId}|${item.proposal.ruleId}`, item]),
      );
      for (const row of inserted) {
        const item = byKey.get(`${row.allocationId}|${row.ruleId}`);
        if (!item) continue;
        const recorded = await this.notifications.record(
          tx,
          recallProposedNotice(row.id, item.candidate, item.proposal),
        );
        if (recorded) result.deliveryIds.push(...recorded.deliveryIds);
        result.proposals += 1;
      }
    });
  }
}

/**
 * The candidates with a rule due and not yet proposed (only those need their balances read), and the
 * programs whose stored rules cannot be read.
 */
export function dueCandidates(
  rows: readonly RecallCandidateRow[],
  now: Date,
): { candidates: RecallCandidate[]; misconfiguredPrograms: string[] } {
  const rulesByProgram = new Map<string, RecallRule[] | null>();
  const candidates: RecallCandidate[] = [];
  for (const row of rows) {
    if (!rulesByProgram.has(row.programId)) {
      rulesByProgram.set(row.programId, readStoredRecallRules(row.recallRules));
    }
    const rules = rulesByProgram.get(row.programId) ?? null;
    if (rules === null) continue;
    const candidate: RecallCandidate = {
      allocationId: row.allocationId,
      projectId: row.projectId,
      programId: row.programId,
      gpuModel: row.gpuModel,
      servers: row.kind === 'reserved' ? (row.servers ?? 0) : null,
      windowStart: row.startsAt,
      windowEnd: row.endsAt,
      rules,
      alreadyProposed: new Set(row.proposedRuleIds),
    };
    if (anyRecallRuleDue(candidate, now)) candidates.push(candidate);
  }
  const misconfiguredPrograms = [...rulesByProgram].filter(([, rules]) => rules === null).map(([id]) => id);
  return { candidates, misconfiguredPrograms };
}
