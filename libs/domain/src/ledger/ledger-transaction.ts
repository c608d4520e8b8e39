import { invalid } from '../errors/domain-error.js';
import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import {
  allocationAccount,
  consumedAccount,
  fundingAccount,
  holdAccount,
  programBudgetAccount,
} from './accounts.js';

export interface LedgerEntry {
  account: string;
  /** Integer GPU-seconds, never zero; positive increases the account's balance. */
  amount: bigint;
}

export const LEDGER_TRANSACTION_KINDS = [
  'program_budget',
  'grant',
  'hold',
  'release',
  'consume',
  'refund',
  'expire',
  'recall',
] as const;
export type LedgerTransactionKind = (typeof LEDGER_TRANSACTION_KINDS)[number];

export interface LedgerTransaction {
  kind: LedgerTransactionKind;
  /** Posting the same business event twice must present the same key, so it counts once. */
  idempotencyKey: string;
  entries: LedgerEntry[];
  memo?: string;
}

function hours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hours`;
}

/** Throws UNBALANCED_LEDGER_TRANSACTION unless the transaction can be posted as is. */
export function assertBalanced(tx: LedgerTransaction): void {
  const problems: string[] = [];
  if (tx.idempotencyKey.trim() === '') problems.push('it has no idempotency key');
  if (tx.entries.length < 2)
    problems.push(
      `it has ${tx.entries.length} entr${tx.entries.length === 1 ? 'y' : 'ies'}, at least 2 are needed`,
    );
  let sum = 0n;
  tx.entries.forEach((entry, index) => {
    if (entry.account.trim() === '') problems.push(`entry ${index + 1} has no account`);
    if (entry.amount === 0n) problems.push(`entry ${index + 1} (${entry.account}) is zero`);
    sum += entry.amount;
  });
  if (sum !== 0n) problems.push(`its entries sum to ${sum.toString()} GPU-seconds instead of 0`);
  if (problems.length > 0) {
    throw invalid(
      'UNBALANCED_LEDGER_TRANSACTION',
      `Ledger transaction ${tx.idempotencyKey || '(no key)'} (${tx.kind}) cannot be posted: ${problems.join('; ')}.`,
      { idempotencyKey: tx.idempotencyKey, kind: tx.kind, problems },
    );
  }
}

function requirePositive(gpuSeconds: bigint, what: string): void {
  if (gpuSeconds <= 0n) {
    throw invalid(
      'INVALID_LEDGER_AMOUNT',
      `${what} must be more than 0 GPU-seconds, got ${gpuSeconds.toString()}.`,
      {
        gpuSeconds: gpuSeconds.toString(),
      },
    );
  }
}

function build(tx: LedgerTransaction): LedgerTransaction {
  assertBalanced(tx);
  return tx;
}

/** Funding → program: the program's budget for one GPU model (again with a new key for a top-up). */
export function programBudgetTransaction(
  programId: string,
  gpuModel: string,
  gpuSeconds: bigint,
  idempotencyKey = `program_budget:${programId}:${gpuModel}`,
): LedgerTransaction {
  requirePositive(gpuSeconds, 'A program budget');
  return build({
    kind: 'program_budget',
    idempotencyKey,
    entries: [
      { account: fundingAccount(programId, gpuModel), amount: -gpuSeconds },
      { account: programBudgetAccount(programId, gpuModel), amount: gpuSeconds },
    ],
    memo: `Budget ${hours(gpuSeconds)} of ${gpuModel} to program ${programId}`,
  });
}

export interface GrantPosting {
  programId: string;
  gpuModel: string;
  allocationId: string;
  /** The approved request line; one grant per line, whatever is retried. */
  requestLineId: string;
  gpuSeconds: bigint;
}

/** Program → allocation. */
export function grantTransaction(grant: GrantPosting): LedgerTransaction {
  requirePositive(grant.gpuSeconds, 'A grant');
  return build({
    kind: 'grant',
    idempotencyKey: `grant:${grant.requestLineId}`,
    entries: [
      { account: programBudgetAccount(grant.programId, grant.gpuModel), amount: -grant.gpuSeconds },
      { account: allocationAccount(grant.allocationId), amount: grant.gpuSeconds },
    ],
    memo: `Grant ${hours(grant.gpuSeconds)} of ${grant.gpuModel} to allocation ${grant.allocationId}`,
  });
}

export interface HoldPosting {
  allocationId: string;
  workloadId: string;
  /** Admission attempt: a preempted workload that is admitted again holds (and settles) anew. */
  attempt?: number;
  /** gpus × walltime of the admitted workload. */
  gpuSeconds: bigint;
}

/** Allocation → hold, when a workload is admitted. */
export function holdTransaction(hold: HoldPosting): LedgerTransaction {
  requirePositive(hold.gpuSeconds, 'A hold');
  return build({
    kind: 'hold',
    idempotencyKey: `hold:${hold.workloadId}:${hold.attempt ?? 0}`,
    entries: [
      { account: allocationAccount(hold.allocationId), amount: -hold.gpuSeconds },
      { account: holdAccount(hold.allocationId), amount: hold.gpuSeconds },
    ],
    memo: `Hold ${hours(hold.gpuSeconds)} for workload ${hold.workloadId}`,
  });
}

export interface SettlePosting {
  allocationId: string;
  workloadId: string;
  /** Admission attempt whose hold this settles (see HoldPosting.attempt). */
  attempt?: number;
  heldGpuSeconds: bigint;
  usedGpuSeconds: bigint;
}

/**
 * Closes a workload's hold: the used part moves to consumed, the unused part back to the allocation.
 * Usage beyond the hold (an overrun) is still recorded: it is taken from the allocation, which may go
 * negative; that negative balance is the overdraft shown to people. With nothing used it is a `release`.
 */
export function settleHoldTransaction(settle: SettlePosting): LedgerTransaction {
  const { allocationId, workloadId, heldGpuSeconds: held, usedGpuSeconds: used } = settle;
  if (held < 0n || used < 0n) {
    throw invalid(
      'INVALID_LEDGER_AMOUNT',
      `Held and used GPU-seconds of workload ${workloadId} cannot be negative.`,
      {
        heldGpuSeconds: held.toString(),
        usedGpuSeconds: used.toString(),
      },
    );
  }
  if (held === 0n && used === 0n) {
    throw invalid(
      'NOTHING_TO_SETTLE',
      `Workload ${workloadId} held and used nothing, so there is nothing to post.`,
    );
  }
  const entries: LedgerEntry[] = [];
  if (held !== 0n) entries.push({ account: holdAccount(allocationId), amount: -held });
  if (used !== 0n) entries.push({ account: consumedAccount(allocationId), amount: used });
  if (held !== used) entries.push({ account: allocationAccount(allocationId), amount: held - used });
  const overrun = used > held ? `, ${hours(used - held)} over the hold` : '';
  return build({
    kind: used === 0n ? 'release' : 'consume',
    idempotencyKey: `settle:${workloadId}:${settle.attempt ?? 0}`,
    entries,
    memo: `Workload ${workloadId} used ${hours(used)} of ${hours(held)} held${overrun}`,
  });
}

export interface RefundPosting {
  allocationId: string;
  /** What justifies the refund (e.g. a failed-node incident); one refund per reason. */
  refundId: string;
  gpuSeconds: bigint;
  /** Why, for the people reading the ledger (e.g. "node_down: …", "preempted: …"); in the memo. */
  reason?: string;
}

/** Consumed → allocation: gives back usage that should not count (e.g. a node failure). */
export function refundTransaction(refund: RefundPosting): LedgerTransaction {
  requirePositive(refund.gpuSeconds, 'A refund');
  return build({
    kind: 'refund',
    idempotencyKey: `refund:${refund.refundId}`,
    entries: [
      { account: consumedAccount(refund.allocationId), amount: -refund.gpuSeconds },
      { account: allocationAccount(refund.allocationId), amount: refund.gpuSeconds },
    ],
    memo:
      `Refund ${hours(refund.gpuSeconds)} to allocation ${refund.allocationId}` +
      (refund.reason ? `: ${refund.reason}` : ''),
  });
}

export interface ExpirePosting {
  programId: string;
  gpuModel: string;
  allocationId: string;
  /** The unused remainder returned to the program (window ended or recalled). */
  gpuSeconds: bigint;
  /** Distinguishes several recalls of one allocation; defaults to the single end-of-window expiry. */
  reason?: string;
}

/** Allocation → program: the remainder of an expired or recalled allocation returns to the program. */
export function expireTransaction(expire: ExpirePosting): LedgerTransaction {
  requirePositive(expire.gpuSeconds, 'An expiry');
  return build({
    kind: 'expire',
    idempotencyKey: `expire:${expire.allocationId}:${expire.reason ?? 'window_end'}`,
    entries: [
      { account: allocationAccount(expire.allocationId), amount: -expire.gpuSeconds },
      { account: programBudgetAccount(expire.programId, expire.gpuModel), amount: expire.gpuSeconds },
    ],
    memo: `Return ${hours(expire.gpuSeconds)} of ${expire.gpuModel} from allocation ${expire.allocationId} to program ${expire.programId}`,
  });
}

/** How one metered amount divides between a workload's hold and the allocation: hold first. */
export function splitUsageAgainstHold(
  amount: bigint,
  holdRemaining: bigint,
): { fromHold: bigint; fromAllocation: bigint } {
  if (amount < 0n) {
    throw invalid(
      'INVALID_LEDGER_AMOUNT',
      `Usage cannot be negative, got ${amount.toString()} GPU-seconds.`,
      {
        gpuSeconds: amount.toString(),
      },
    );
  }
  const available = holdRemaining > 0n ? holdRemaining : 0n;
  const fromHold = amount < available ? amount : available;
  return { fromHold, fromAllocation: amount - fromHold };
}

export interface UsagePosting {
  allocationId: string;
  /** Identity of the metered usage, e.g. the usage record's id: the same usage posts once. */
  postingKey: string;
  /** Part of the usage covered by the workload's hold (see splitUsageAgainstHold). */
  fromHold: bigint;
  /** Part beyond the hold, or usage with no hold at all; may overdraw the allocation. */
  fromAllocation: bigint;
}

/**
 * Metered usage → consumed, taken from the hold as far as it covers and from the allocation for the
 * rest. Usage is a fact: the allocation part is posted even when it overdraws the allocation.
 */
export function usageTransaction(usage: UsagePosting): LedgerTransaction {
  const { allocationId, postingKey, fromHold, fromAllocation } = usage;
  if (fromHold < 0n || fromAllocation < 0n) {
    throw invalid(
      'INVALID_LEDGER_AMOUNT',
      `Usage ${postingKey} cannot take a negative amount from the hold or the allocation.`,
      { fromHold: fromHold.toString(), fromAllocation: fromAllocation.toString() },
    );
  }
  if (fromHold === 0n && fromAllocation === 0n) {
    throw invalid('NOTHING_TO_SETTLE', `Usage ${postingKey} is 0 GPU-seconds, so there is nothing to post.`);
  }
  if (postingKey.trim() === '') {
    throw invalid(
      'INVALID_LEDGER_KEY',
      `Usage on allocation ${allocationId} needs a posting key to count once.`,
    );
  }
  const entries: LedgerEntry[] = [];
  if (fromHold !== 0n) entries.push({ account: holdAccount(allocationId), amount: -fromHold });
  if (fromAllocation !== 0n)
    entries.push({ account: allocationAccount(allocationId), amount: -fromAllocation });
  entries.push({ account: consumedAccount(allocationId), amount: fromHold + fromAllocation });
  return build({
    kind: 'consume',
    idempotencyKey: `usage:${postingKey}`,
    entries,
    memo: `Usage ${hours(fromHold + fromAllocation)} on allocation ${allocationId} (${hours(fromHold)} from the hold, ${hours(fromAllocation)} from the allocation)`,
  });
}

export interface ReleasePosting {
  allocationId: string;
  workloadId: string;
  /** Admission attempt whose hold this releases (see HoldPosting.attempt). */
  attempt?: number;
  /** What is left of the hold once its usage has been posted. */
  gpuSeconds: bigint;
  /**
   * Names one of several releases of the same hold (e.g. "end", then "grace" once late usage had its
   * chance); without it the attempt has one release. Each step needs its own key to post at all.
   */
  stage?: string;
}

/** Hold → allocation: the unused rest of a finished workload's hold, when usage is posted per record. */
export function releaseHoldTransaction(release: ReleasePosting): LedgerTransaction {
  requirePositive(release.gpuSeconds, 'A hold release');
  const stage = release.stage === undefined ? '' : `:${release.stage}`;
  return build({
    kind: 'release',
    idempotencyKey: `release:${release.workloadId}:${release.attempt ?? 0}${stage}`,
    entries: [
      { account: holdAccount(release.allocationId), amount: -release.gpuSeconds },
      { account: allocationAccount(release.allocationId), amount: release.gpuSeconds },
    ],
    memo: `Release ${hours(release.gpuSeconds)} unused by workload ${release.workloadId}`,
  });
}

export interface RecallPosting {
  programId: string;
  gpuModel: string;
  allocationId: string;
  /** The accepted recall proposal; one posting per proposal, whatever is retried. */
  proposalId: string;
  gpuSeconds: bigint;
}

/** Allocation → program: an under-used allocation gives back part of its balance (use it or lose it). */
export function recallTransaction(recall: RecallPosting): LedgerTransaction {
  requirePositive(recall.gpuSeconds, 'A recall');
  return build({
    kind: 'recall',
    idempotencyKey: `recall:${recall.proposalId}`,
    entries: [
      { account: allocationAccount(recall.allocationId), amount: -recall.gpuSeconds },
      { account: programBudgetAccount(recall.programId, recall.gpuModel), amount: recall.gpuSeconds },
    ],
    memo: `Recall ${hours(recall.gpuSeconds)} of ${recall.gpuModel} from allocation ${recall.allocationId} to program ${recall.programId}`,
  });
}
