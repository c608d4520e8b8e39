import type { EntityManager } from 'typeorm';

/** The accounts of an allocation that postings touch together (see lockAllocationAccounts). */
const ALLOCATION_ACCOUNT_PREFIXES = ['allocation:', 'consumed:', 'hold:'] as const;

/** The allocations whose accounts `accounts` name (allocation:, consumed: or hold: accounts). */
export function allocationsOfAccounts(accounts: Iterable<string>): string[] {
  const ids = new Set<string>();
  for (const account of accounts) {
    for (const prefix of ALLOCATION_ACCOUNT_PREFIXES) {
      if (account.startsWith(prefix)) ids.add(account.slice(prefix.length));
    }
  }
  return [...ids];
}

/**
 * Locks the balance rows of every account of the allocations (allocation:, consumed: and hold:),
 * in account order, in one statement. The trigger on ledger_entries updates balance rows statement
 * by statement, so a transaction posting twice could otherwise take an allocation's rows in one
 * order and a concurrent one in another (a deadlock). Every posting calls this for the allocations
 * it touches; a transaction that posts for several allocations in several statements (a cycle, a
 * node failure) calls it first with all of them. Accounts without a row yet are created by the
 * posting under the lock of the allocation: row, which every allocation has from its grant.
 */
export async function lockAllocationAccounts(manager: EntityManager, allocationIds: string[]): Promise<void> {
  if (allocationIds.length === 0) return;
  const accounts = allocationIds.flatMap((id) => ALLOCATION_ACCOUNT_PREFIXES.map((prefix) => prefix + id));
  await manager.query(
    'SELECT account FROM account_balances WHERE account = ANY($1) ORDER BY account FOR UPDATE',
    [accounts],
  );
}
