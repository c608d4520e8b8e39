import type { LedgerTransaction } from '#domain';
import { LedgerRepository, type LedgerPosting, type Tx } from '#persistence';

/**
 * The ledger in memory, for unit tests of use cases: postings move balances, a key posted twice is
 * a no-op (as the unique index makes it), unbalanced postings are refused.
 */
export class FakeLedger extends LedgerRepository {
  /** Row locks mean nothing in memory. */
  override lockAllocationAccounts(): Promise<void> {
    return Promise.resolve();
  }
  readonly balancesByAccount = new Map<string, bigint>();
  readonly posted: LedgerPosting[] = [];

  override post(_tx: Tx, posting: LedgerPosting): Promise<boolean> {
    return Promise.resolve(this.apply(posting));
  }

  override postMany(_tx: Tx, postings: LedgerTransaction[]): Promise<string[]> {
    return Promise.resolve(postings.filter((posting) => !this.apply(posting)).map((p) => p.idempotencyKey));
  }

  override balances(_tx: Tx, accounts: string[]): Promise<Map<string, bigint>> {
    return Promise.resolve(new Map(accounts.map((account) => [account, this.balance(account)])));
  }

  balance(account: string): bigint {
    return this.balancesByAccount.get(account) ?? 0n;
  }

  /** Sets a starting balance (e.g. what a grant put in an allocation). */
  seed(account: string, amount: bigint): void {
    this.balancesByAccount.set(account, amount);
  }

  private apply(posting: LedgerPosting): boolean {
    if (this.posted.some((p) => p.idempotencyKey === posting.idempotencyKey)) return false;
    const total = posting.entries.reduce((sum, entry) => sum + entry.amount, 0n);
    if (total !== 0n) throw new Error(`unbalanced posting ${posting.idempotencyKey}`);
    for (const entry of posting.entries) {
      this.balancesByAccount.set(entry.account, this.balance(entry.account) + entry.amount);
    }
    this.posted.push(posting);
    return true;
  }
}
