import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  LEDGER_TRANSACTION_KINDS,
  type LedgerPosting as AccountPosting,
  type LedgerTransaction,
  type LedgerTransactionKind,
} from '#domain';
import type { Tx } from '../transaction.js';
import { postLedgerTransactions } from './ledger-batch.repository.js';
import { allocationsOfAccounts, lockAllocationAccounts } from './ledger-locks.js';
import { LedgerEntryEntity, LedgerTransactionEntity } from '../entities/ledger.entities.js';

export interface LedgerPosting {
  kind: string;
  idempotencyKey: string;
  entries: { account: string; amount: bigint }[];
  memo?: string;
  requestId?: string | null;
}

/**
 * Writes ledger transactions. Must run inside the caller's transaction: the posting commits or
 * rolls back with the business change it records. A second posting with the same idempotency key
 * is a no-op (returns false), which is what makes redelivered jobs harmless.
 */
export async function postLedgerTransaction(
  manager: EntityManager,
  posting: LedgerPosting,
): Promise<boolean> {
  if (!manager.queryRunner?.isTransactionActive) {
    throw new Error('postLedgerTransaction must run inside a transaction');
  }
  const total = posting.entries.reduce((sum, entry) => sum + entry.amount, 0n);
  if (total !== 0n || posting.entries.length < 2) {
    throw new Error(`ledger transaction ${posting.idempotencyKey} does not balance (sum ${total})`);
  }
  await lockAllocationAccounts(manager, allocationsOfAccounts(posting.entries.map((entry) => entry.account)));
  const inserted = await manager
    .createQueryBuilder()
    .insert()
    .into(LedgerTransactionEntity)
    .values({
      kind: posting.kind,
      idempotencyKey: posting.idempotencyKey,
      memo: posting.memo ?? null,
      requestId: posting.requestId ?? null,
    })
    .orIgnore()
    .returning(['id'])
    .execute();
  const row = (inserted.raw as { id: string }[])[0];
  if (!row) return false;
  await manager
    .createQueryBuilder()
    .insert()
    .into(LedgerEntryEntity)
    .values(
      posting.entries.map((entry) => ({
        transactionId: row.id,
        account: entry.account,
        amount: entry.amount,
      })),
    )
    .execute();
  return true;
}

/**
 * Balances of the given accounts (absent accounts are 0), from `account_balances`, which a trigger
 * keeps equal to the sums of the entries in the inserting transaction (the reconciler checks it).
 */
export async function accountBalances(
  manager: EntityManager,
  accounts: string[],
): Promise<Map<string, bigint>> {
  const result = new Map<string, bigint>(accounts.map((account) => [account, 0n]));
  if (accounts.length === 0) return result;
  const rows = await manager.query<{ account: string; balance: string }[]>(
    'SELECT account, balance::text AS balance FROM account_balances WHERE account = ANY($1)',
    [accounts],
  );
  for (const row of rows) result.set(row.account, BigInt(row.balance));
  return result;
}

/** Sum of the positive entries into an account from transactions of one kind (e.g. everything granted). */
export async function inflowOfKind(manager: EntityManager, account: string, kind: string): Promise<bigint> {
  const rows = await manager.query<{ total: string | null }[]>(
    `SELECT SUM(e.amount)::text AS total FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
     WHERE e.account = $1 AND t.kind = $2 AND e.amount > 0`,
    [account, kind],
  );
  return BigInt(rows[0]?.total ?? '0');
}

/**
 * The one path to the ledger: every posting of every use case goes through `post` or `postMany`,
 * inside the use case's transaction. Balances are read here too.
 */
@Injectable()
export class LedgerRepository {
  /** One balanced transaction; false when its idempotency key was already posted (a no-op). */
  post(tx: Tx, posting: LedgerPosting): Promise<boolean> {
    return postLedgerTransaction(tx, posting);
  }

  /** Many balanced transactions in two statements; returns the idempotency keys already posted. */
  postMany(tx: Tx, postings: LedgerTransaction[]): Promise<string[]> {
    return postLedgerTransactions(tx, postings);
  }

  /** See lockAllocationAccounts: before the first posting of a transaction that posts for several allocations. */
  lockAllocationAccounts(tx: Tx, allocationIds: string[]): Promise<void> {
    return lockAllocationAccounts(tx, allocationIds);
  }

  balances(tx: Tx, accounts: string[]): Promise<Map<string, bigint>> {
    return accountBalances(tx, accounts);
  }

  inflowOfKind(tx: Tx, account: string, kind: string): Promise<bigint> {
    return inflowOfKind(tx, account, kind);
  }

  /**
   * The entries into the accounts summed per account, transaction kind and sign: libs/domain tells
   * grants from other inflows by kind and sign, so these sums fold to exactly what the entries would.
   */
  async postingSums(tx: Tx, accounts: string[]): Promise<AccountPosting[]> {
    if (accounts.length === 0) return [];
    const rows = await tx.query<
      { account: string; kind: string; inflow: string | null; outflow: string | null }[]
    >(
      `SELECT e.account, t.kind,
              (SUM(e.amount) FILTER (WHERE e.amount > 0))::text AS inflow,
              (SUM(e.amount) FILTER (WHERE e.amount < 0))::text AS outflow
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account = ANY($1)
        GROUP BY e.account, t.kind`,
      [accounts],
    );
    const postings: AccountPosting[] = [];
    for (const row of rows) {
      if (!isLedgerTransactionKind(row.kind))
        throw new Error(`ledger transaction kind "${row.kind}" is unknown to libs/domain`);
      if (row.inflow !== null)
        postings.push({ account: row.account, kind: row.kind, amount: BigInt(row.inflow) });
      if (row.outflow !== null)
        postings.push({ account: row.account, kind: row.kind, amount: BigInt(row.outflow) });
    }
    return postings;
  }
}

function isLedgerTransactionKind(kind: string): kind is LedgerTransactionKind {
  return (LEDGER_TRANSACTION_KINDS as readonly string[]).includes(kind);
}
