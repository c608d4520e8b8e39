import type { EntityManager } from 'typeorm';
import { assertBalanced, type LedgerTransaction } from '#domain';
import { allocationsOfAccounts, lockAllocationAccounts } from './ledger-locks.js';

/**
 * Posts many ledger transactions in two statements (transactions, then all their entries), inside
 * the caller's transaction: the batch form of `postLedgerTransaction` (libs/persistence), with the
 * same rules — each transaction balanced and at least two entries (checked here and again by the
 * deferred trigger at commit), and unique idempotency keys. A cycle admitting a burst of
 * workloads would otherwise spend two round trips per hold inside the partition lock.
 *
 * Returns the idempotency keys that were already posted (their transactions are skipped, as
 * `postLedgerTransaction` returns false for them).
 */
export async function postLedgerTransactions(
  manager: EntityManager,
  postings: LedgerTransaction[],
): Promise<string[]> {
  if (postings.length === 0) return [];
  if (!manager.queryRunner?.isTransactionActive) {
    throw new Error('postLedgerTransactions must run inside a transaction');
  }
  for (const posting of postings) assertBalanced(posting);
  await lockAllocationAccounts(
    manager,
    allocationsOfAccounts(postings.flatMap((posting) => posting.entries.map((entry) => entry.account))),
  );
  const inserted = await manager.query<{ id: string; idempotency_key: string }[]>(
    `INSERT INTO ledger_transactions (kind, idempotency_key, memo)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING id, idempotency_key`,
    [
      postings.map((posting) => posting.kind),
      postings.map((posting) => posting.idempotencyKey),
      postings.map((posting) => posting.memo ?? null),
    ],
  );
  const idOf = new Map(inserted.map((row) => [row.idempotency_key, row.id]));
  const transactionIds: string[] = [];
  const accounts: string[] = [];
  const amounts: string[] = [];
  const skipped: string[] = [];
  for (const posting of postings) {
    const id = idOf.get(posting.idempotencyKey);
    if (!id) {
      skipped.push(posting.idempotencyKey);
      continue;
    }
    for (const entry of posting.entries) {
      transactionIds.push(id);
      accounts.push(entry.account);
      amounts.push(entry.amount.toString());
    }
  }
  if (transactionIds.length > 0) {
    await manager.query(
      `INSERT INTO ledger_entries (transaction_id, account, amount)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[])`,
      [transactionIds, accounts, amounts],
    );
  }
  return skipped;
}
