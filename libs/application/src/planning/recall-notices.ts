import { formatGpuHoursForPeople, type AnyRecallProposal, type RecallCandidate } from '#domain';
import type { LockedRecallAllocation, LockedRecallProposal, NotificationInput } from '#persistence';

/** The `recall_proposed` notification of a new proposal, to the allocation's project. */
export function recallProposedNotice(
  proposalId: string,
  candidate: RecallCandidate,
  proposal: AnyRecallProposal,
): NotificationInput {
  const servers = proposal.servers;
  return {
    projectId: candidate.projectId,
    allocationId: candidate.allocationId,
    kind: 'recall_proposed',
    dedupeKey: `recall_proposed:${proposalId}`,
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
      proposalId,
      ruleId: proposal.ruleId,
      gpuSeconds: proposal.gpuSeconds.toString(),
      usedBasisPoints: proposal.usedBasisPoints,
      dueAt: proposal.dueAt.toISOString(),
      ...(servers === undefined ? {} : { servers, serversHeld: proposal.serversHeld }),
    },
  };
}

/** The `recall_confirmed` notification of a budget recall: what went back, or why nothing did. */
export function budgetRecallConfirmedNotice(
  proposal: LockedRecallProposal,
  allocation: LockedRecallAllocation,
  amounts: { balance: bigint; recalled: bigint },
): NotificationInput {
  const { balance, recalled } = amounts;
  const proposed = proposal.gpuSeconds;
  const left = balance - recalled;
  const body =
    recalled === 0n
      ? `An administrator confirmed the recall proposed for allocation ${allocation.id} (${allocation.gpuModel}) ` +
        `under rule "${proposal.ruleId}", but nothing was recalled: the allocation had no unused balance left ` +
        `(it was used or held by running workloads since the proposal).`
      : `An administrator confirmed the recall of ${hours(recalled)} from allocation ${allocation.id} ` +
        `(${allocation.gpuModel}) under rule "${proposal.ruleId}"` +
        (recalled < proposed
          ? ` (${hours(proposed)} were proposed; only ${hours(recalled)} were unused)`
          : '') +
        `: they went back to the program for projects on the waitlist. ${hours(left > 0n ? left : 0n)} remain ` +
        `to admit workloads against.`;
  return {
    projectId: allocation.projectId,
    allocationId: allocation.id,
    kind: 'recall_confirmed',
    dedupeKey: `recall_confirmed:${proposal.id}`,
    title: `Recall confirmed: ${allocation.gpuModel} allocation`,
    body,
    data: {
      proposalId: proposal.id,
      ruleId: proposal.ruleId,
      proposedGpuSeconds: proposed.toString(),
      recalledGpuSeconds: recalled.toString(),
    },
  };
}

/** The `recall_confirmed` notification of a server recall: which servers went back, or why none did. */
export function serverRecallConfirmedNotice(
  proposal: LockedRecallProposal,
  allocation: LockedRecallAllocation,
  release: { at: Date; held: number; chosen: number; releasedNodeIds: string[]; recalled: bigint },
): NotificationInput {
  const proposed = proposal.servers ?? 0;
  const { at, held, chosen, recalled } = release;
  const kept = held - chosen;
  const body =
    chosen === 0
      ? `An administrator confirmed the early release of ${plural(proposed, 'server')} of allocation ` +
        `${allocation.id} (${allocation.gpuModel}) under rule "${proposal.ruleId}", but none was released: ` +
        `the reservation ${held === 0 ? 'holds no server any more' : `holds only ${plural(held, 'server')}, which it keeps`}.`
      : `An administrator confirmed the early release of ${plural(chosen, 'server')} of allocation ` +
        `${allocation.id} (${allocation.gpuModel}) under rule "${proposal.ruleId}"` +
        (chosen < proposed ? ` (${proposed} were proposed; servers were released since)` : '') +
        `: from ${at.toISOString()} they went back to the calendar for projects on the waitlist, with ` +
        `${hours(recalled)} of their remaining server time returned to the program. The reservation keeps ` +
        `${plural(kept, 'server')} to the end of its window.`;
  return {
    projectId: allocation.projectId,
    allocationId: allocation.id,
    kind: 'recall_confirmed',
    dedupeKey: `recall_confirmed:${proposal.id}`,
    title: `Recall confirmed: ${allocation.gpuModel} allocation`,
    body,
    data: {
      proposalId: proposal.id,
      ruleId: proposal.ruleId,
      proposedGpuSeconds: proposal.gpuSeconds.toString(),
      recalledGpuSeconds: recalled.toString(),
      proposedServers: proposed,
      releasedServers: chosen,
      releasedNodeIds: release.releasedNodeIds,
      releasedAt: at.toISOString(),
    },
  };
}

function hours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hours`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
