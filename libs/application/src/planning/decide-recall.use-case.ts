import { Injectable, Logger } from '@nestjs/common';
import {
  actorOf,
  allocationAccount,
  chooseServersToRelease,
  conflict,
  DomainError,
  notFound,
  recallTransaction,
  releaseInstant,
  releasedGpuSeconds,
  serversToReleaseOnConfirm,
  toAmount,
  type Principal,
} from '#domain';
import {
  LedgerRepository,
  NotificationsRepository,
  RecallRepository,
  TransactionRunner,
  type LockedRecallAllocation,
  type LockedRecallProposal,
  type RecallProposalEntity,
  type Tx,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { budgetRecallConfirmedNotice, serverRecallConfirmedNotice } from './recall-notices.js';
import { ReleaseReservedServersUseCase } from './release-reserved-servers.use-case.js';

export interface RecallDecisionCommand {
  principal: Principal;
  requestId: string | null;
  proposalId: string;
}

/** What a confirmation did, in the proposal's transaction. */
export interface RecallConfirmation {
  /** What went back to the program: the proposal capped at the allocation's balance then; may be 0. */
  recalledGpuSeconds: bigint;
  /** Webhook deliveries of the `recall_confirmed` notification: enqueue after commit. */
  deliveryIds: string[];
  /** Reserved allocations only: the servers released at `at`. */
  release?: { gpuModel: string; at: Date; releasedNodeIds: string[] };
}

/**
 * An admin's decision on a recall proposal (made by the sweep from the programs' use-it-or-lose-it
 * rules). Confirm posts allocation → program once (`recall:<proposalId>`) — for a reserved
 * allocation after releasing K servers early through the admin release's code path, then
 * re-planning the model's waitlist after commit — and dismiss takes nothing. Both are audited; a
 * proposal already decided is 409 ILLEGAL_TRANSITION; only signed-in users decide.
 */
@Injectable()
export class DecideRecallUseCase {
  private readonly logger = new Logger(DecideRecallUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly recalls: RecallRepository,
    private readonly ledger: LedgerRepository,
    private readonly notifications: NotificationsRepository,
    private readonly release: ReleaseReservedServersUseCase,
    private readonly producer: JobProducer,
  ) {}

  /**
   * Locks the proposal, then the allocation's scheduling partition, then the allocation row (the
   * order admission and cancellation use), so no admission spends the same balance meanwhile.
   */
  async confirm(
    command: RecallDecisionCommand,
    now: Date = new Date(),
  ): Promise<{ proposal: RecallProposalEntity; decision: RecallConfirmation }> {
    const adminUserId = userIdOf(command.principal);
    const outcome = await this.transactions.run(async (tx) => {
      const proposal = await this.lockOpenProposal(tx, command.proposalId, 'confirm');
      const allocation = await this.recalls.lockAllocation(tx, proposal.allocationId);
      if (!allocation) throw notFound('Allocation', proposal.allocationId);
      const decision =
        proposal.servers === null
          ? await this.confirmBudgetRecall(tx, proposal, allocation, adminUserId, now)
          : await this.confirmServerRecall(tx, proposal, allocation, {
              adminUserId,
              now,
              requestId: command.requestId,
            });
      const row = await this.loaded(tx, command.proposalId);
      const release = decision.release;
      await this.recalls.auditDecision(tx, {
        ...actorOf(command.principal),
        action: 'recall.confirmed',
        proposalId: command.proposalId,
        before: {
          status: 'proposed',
          proposedGpuSeconds: toAmount(row.gpuSeconds).gpuSeconds,
          ...(row.servers === null ? {} : { proposedServers: row.servers }),
        },
        after: {
          status: row.status,
          recalledGpuSeconds: decision.recalledGpuSeconds,
          ...(release ? { releasedNodeIds: release.releasedNodeIds, releasedAt: release.at } : {}),
        },
        requestId: command.requestId,
      });
      return { row, decision, jobs: [...deliveryJobs(decision.deliveryIds), ...releaseJobs(release)] };
    });
    await enqueueAfterCommit(this.producer, outcome.jobs, {
      logger: this.logger,
      recoveredBy: 'the scheduler reconciler',
    });
    return { proposal: outcome.row, decision: outcome.decision };
  }

  async dismiss(command: RecallDecisionCommand, now: Date = new Date()): Promise<RecallProposalEntity> {
    const adminUserId = userIdOf(command.principal);
    return this.transactions.run(async (tx) => {
      await this.lockOpenProposal(tx, command.proposalId, 'dismiss');
      await this.recalls.markDismissed(tx, command.proposalId, { adminUserId, at: now });
      const row = await this.loaded(tx, command.proposalId);
      await this.recalls.auditDecision(tx, {
        ...actorOf(command.principal),
        action: 'recall.dismissed',
        proposalId: command.proposalId,
        before: { status: 'proposed' },
        after: { status: row.status },
        requestId: command.requestId,
      });
      return row;
    });
  }

  private async lockOpenProposal(
    tx: Tx,
    proposalId: string,
    action: 'confirm' | 'dismiss',
  ): Promise<LockedRecallProposal> {
    const proposal = await this.recalls.lockProposal(tx, proposalId);
    if (!proposal) throw notFound('Recall proposal', proposalId);
    if (proposal.status !== 'proposed') {
      const when = proposal.decidedAt ? ` at ${proposal.decidedAt.toISOString()}` : '';
      throw conflict(
        'ILLEGAL_TRANSITION',
        `Recall proposal ${proposalId} was already ${proposal.status}${when}; only proposed recalls can be ` +
          `confirmed or dismissed. List the open ones with GET /v1/recall-proposals?status=proposed.`,
        { status: proposal.status, action },
      );
    }
    return proposal;
  }

  private async loaded(tx: Tx, proposalId: string): Promise<RecallProposalEntity> {
    const row = await this.recalls.find(proposalId, tx);
    if (!row) throw notFound('Recall proposal', proposalId);
    return row;
  }

  /** min(proposal, the allocation account's balance now) goes back to the program, posted once. */
  private async confirmBudgetRecall(
    tx: Tx,
    proposal: LockedRecallProposal,
    allocation: LockedRecallAllocation,
    adminUserId: string,
    now: Date,
  ): Promise<RecallConfirmation> {
    const balance = await this.balanceOf(tx, allocation.id);
    const recalled = capAtBalance(proposal.gpuSeconds, balance);
    await this.postRecall(tx, proposal, allocation, recalled);
    await this.recalls.markConfirmed(tx, proposal.id, {
      adminUserId,
      at: now,
      recalledGpuSeconds: recalled,
      releasedServers: null,
    });
    const recorded = await this.notifications.record(
      tx,
      budgetRecallConfirmedNotice(proposal, allocation, { balance, recalled }),
    );
    return { recalledGpuSeconds: recalled, deliveryIds: recorded?.deliveryIds ?? [] };
  }

  /**
   * A reserved allocation's proposal releases servers: from the release instant (now rounded up to
   * the whole second); how many by serversToReleaseOnConfirm (never its last server unless the rule
   * recalled every server it held); which by chooseServersToRelease (the least busy now); through the
   * admin release's code path. The released server time, capped at the balance, goes back to the
   * program once, exactly as a budget recall returns GPU-seconds.
   */
  private async confirmServerRecall(
    tx: Tx,
    proposal: LockedRecallProposal,
    allocation: LockedRecallAllocation,
    context: { adminUserId: string; now: Date; requestId: string | null },
  ): Promise<RecallConfirmation> {
    const at = releaseInstant(context.now);
    const held = await this.recalls.heldServers(tx, allocation.id, at);
    const proposed = proposal.servers ?? 0;
    const count = serversToReleaseOnConfirm(
      { servers: proposed, serversHeld: proposal.serversHeld ?? proposed },
      held.length,
    );
    const chosen = chooseServersToRelease(
      held.map((server) => ({ nodeId: server.nodeId, busyGpus: server.busyGpus })),
      count,
    );
    let releasedNodeIds: string[] = [];
    if (chosen.length > 0) {
      const outcome = await this.release.releaseWithin(tx, allocation.id, chosen, at, {
        actorId: context.adminUserId,
        actorKind: 'user',
        requestId: context.requestId,
        reason: `recall proposal ${proposal.id} (rule "${proposal.ruleId}") confirmed`,
      });
      releasedNodeIds = outcome.releasedNodeIds;
    }
    const chosenIds = new Set(chosen);
    const serverTime = releasedGpuSeconds(
      held.filter((server) => chosenIds.has(server.nodeId)),
      at,
    );
    const recalled = capAtBalance(serverTime, await this.balanceOf(tx, allocation.id));
    await this.postRecall(tx, proposal, allocation, recalled);
    await this.recalls.markConfirmed(tx, proposal.id, {
      adminUserId: context.adminUserId,
      at: context.now,
      recalledGpuSeconds: recalled,
      releasedServers: chosen.length,
    });
    const recorded = await this.notifications.record(
      tx,
      serverRecallConfirmedNotice(proposal, allocation, {
        at,
        held: held.length,
        chosen: chosen.length,
        releasedNodeIds,
        recalled,
      }),
    );
    return {
      recalledGpuSeconds: recalled,
      deliveryIds: recorded?.deliveryIds ?? [],
      release: { gpuModel: allocation.gpuModel, at, releasedNodeIds },
    };
  }

  private async balanceOf(tx: Tx, allocationId: string): Promise<bigint> {
    const account = allocationAccount(allocationId);
    return (await this.ledger.balances(tx, [account])).get(account) ?? 0n;
  }

  private async postRecall(
    tx: Tx,
    proposal: LockedRecallProposal,
    allocation: LockedRecallAllocation,
    gpuSeconds: bigint,
  ): Promise<void> {
    if (gpuSeconds <= 0n) return;
    await this.ledger.post(
      tx,
      recallTransaction({
        programId: allocation.programId,
        gpuModel: allocation.gpuModel,
        allocationId: allocation.id,
        proposalId: proposal.id,
        gpuSeconds,
      }),
    );
  }
}

/** What a recall returns: the amount asked, at most the balance, never below 0. */
function capAtBalance(amount: bigint, balance: bigint): bigint {
  return balance <= 0n ? 0n : balance < amount ? balance : amount;
}

function deliveryJobs(deliveryIds: readonly string[]): JobItem[] {
  return deliveryIds.map((deliveryId): JobItem => ({ name: 'webhook.deliver', data: { deliveryId } }));
}

/**
 * After servers are released: the model's waitlist is re-planned onto them and the shared queue's
 * cycle sees them free — the jobs the admin release enqueues. If they are lost, the scheduler's
 * periodic waitlist re-plan and cycle tick pick the change up.
 */
function releaseJobs(release: RecallConfirmation['release']): JobItem[] {
  if (!release || release.releasedNodeIds.length === 0) return [];
  return [
    { name: 'planning.replan', data: { gpuModel: release.gpuModel } },
    { name: 'schedule.cycle', data: { gpuModel: release.gpuModel } },
  ];
}

function userIdOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError('forbidden', 'USER_REQUIRED', 'Recalls are decided by signed-in administrators.');
  }
  return principal.userId;
}
