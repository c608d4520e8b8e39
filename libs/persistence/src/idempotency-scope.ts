import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from 'typeorm';

/** The Idempotency-Key of the HTTP request being served, as the API's interceptor opens it. */
export interface IdempotencyScope {
  principal: string;
  key: string;
  method: string;
  path: string;
  requestHash: string;
  /** Set once a transaction of this request inserted the key row (and cleared if it rolled back). */
  reserved: boolean;
}

const scopes = new AsyncLocalStorage<IdempotencyScope>();

/** Runs `work` (the request's handling) with its Idempotency-Key reservable by its transactions. */
export function withIdempotencyScope<T>(scope: IdempotencyScope, work: () => T): T {
  return scopes.run(scope, work);
}

/** Another request holds (or held) this key: the transaction that tried to reserve it rolls back. */
export class IdempotencyKeyTaken extends Error {
  override readonly name = 'IdempotencyKeyTaken';
}

/**
 * Called by TypeormTransactionRunner at the start of every transaction: the first transaction of a
 * request sent with an Idempotency-Key inserts the key row, so the work and its key commit (or roll
 * back) together. A concurrent request with the same key waits on the key's unique index until the
 * first commits, then finds the row and rolls back without doing anything (IdempotencyKeyTaken);
 * if the first rolled back, the second reserves the key and does the work itself.
 */
export async function reserveIdempotencyKey(tx: EntityManager): Promise<(() => void) | null> {
  const scope = scopes.getStore();
  if (!scope || scope.reserved) return null;
  const inserted = await tx.query<{ key: string }[]>(
    `INSERT INTO idempotency_keys (principal, key, method, path, request_hash)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key`,
    [scope.principal, scope.key, scope.method, scope.path, scope.requestHash],
  );
  if (inserted.length === 0) throw new IdempotencyKeyTaken(`Idempotency-Key ${scope.key} is taken`);
  scope.reserved = true;
  // The caller calls this if the transaction rolls back: a later transaction may reserve again.
  return () => {
    scope.reserved = false;
  };
}
