import { allocationAccount, consumedAccount, holdAccount } from './accounts.js';
import type { LedgerEntry, LedgerTransaction, LedgerTransactionKind } from './ledger-transaction.js';

/** An entry together with the kind of the transaction it belongs to (as a repository loads it). */
export interface LedgerPosting extends LedgerEntry {
  kind: LedgerTransactionKind;
}

export function postingsOf(transactions: readonly LedgerTransaction[]): LedgerPosting[] {
  return transactions.flatMap((tx) => tx.entries.map((entry) => ({ ...entry, kind: tx.kind })));
}

/** Balance of every account that appears in the entries: the sum of its amounts. */
export function balances(entries: readonly LedgerEntry[]): Map<string, bigint> {
  const result = new Map<string, bigint>();
  for (const entry of entries) {
    result.set(entry.account, (result.get(entry.account) ?? 0n) + entry.amount);
  }
  return result;
}

export interface AllocationBalance {
  /**
   * Sum of `grant` postings into the allocation. Nothing is subtracted: expiries and recalls are
   * reported separately in `returned`, so granted always reads as what the decision gave.
   */
  granted: bigint;
  /** Admitted, not yet metered. */
  held: bigint;
  /** Metered usage (after refunds). */
  consumed: bigint;
  /** Sent back to the program by expiry or recall. */
  returned: bigint;
  /** The allocation account's balance; negative means overdraft (usage beyond the grant). */
  remaining: bigint;
}

/**
 * Quota position of one allocation. With every posting built by this module,
 * granted = remaining + held + consumed + returned.
 */
export function allocationBalance(
  postings: readonly LedgerPosting[],
  allocationId: string,
): AllocationBalance {
  const allocation = allocationAccount(allocationId);
  const hold = holdAccount(allocationId);
  const consumed = consumedAccount(allocationId);
  const result: AllocationBalance = { granted: 0n, held: 0n, consumed: 0n, returned: 0n, remaining: 0n };
  for (const posting of postings) {
    if (posting.account === allocation) {
      result.remaining += posting.amount;
      if (posting.kind === 'grant' && posting.amount > 0n) result.granted += posting.amount;
      if ((posting.kind === 'expire' || posting.kind === 'recall') && posting.amount < 0n) {
        result.returned -= posting.amount;
      }
    } else if (posting.account === hold) {
      result.held += posting.amount;
    } else if (posting.account === consumed) {
      result.consumed += posting.amount;
    }
  }
  return result;
}
