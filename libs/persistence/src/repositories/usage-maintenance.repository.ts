import type { DataSource } from 'typeorm';
import { expireTransaction, releaseHoldTransaction } from '#domain';
import { postLedgerTransaction } from './ledger.repository.js';
import { recordNotification } from './notifications.repository.js';

/**
 * Holds kept for the usage of ended attempts are released once METERING_GRACE_MS has passed without
 * it (release_after < now). One short transaction per hold; returns how many were released.
 */
export async function releaseStaleHolds(dataSource: DataSource, now: Date, limit = 500): Promise<number> {
  const due = await dataSource.query<{ workload_id: string; attempt: number }[]>(
    `SELECT workload_id, attempt FROM workload_holds
      WHERE remaining_gpu_seconds > 0 AND release_after IS NOT NULL AND release_after < $1
      ORDER BY release_after LIMIT $2`,
    [now, limit],
  );
  let released = 0;
  for (const row of due) {
    const done = await dataSource.transaction(async (manager) => {
      const rows = await manager.query<{ allocation_id: string; remaining: string }[]>(
        `SELECT allocation_id, remaining_gpu_seconds::text AS remaining FROM workload_holds
          WHERE workload_id = $1 AND attempt = $2 AND remaining_gpu_seconds > 0
            AND release_after IS NOT NULL AND release_after < $3
          FOR UPDATE`,
        [row.workload_id, row.attempt, now],
      );
      const hold = rows[0];
      if (!hold) return false;
      await postLedgerTransaction(
        manager,
        releaseHoldTransaction({
          allocationId: hold.allocation_id,
          workloadId: row.workload_id,
          attempt: row.attempt,
          gpuSeconds: BigInt(hold.remaining),
          stage: 'unmetered',
        }),
      );
      await manager.query(
        `UPDATE workload_holds SET remaining_gpu_seconds = 0, release_after = NULL
          WHERE workload_id = $1 AND attempt = $2`,
        [row.workload_id, row.attempt],
      );
      return true;
    });
    if (done) released += 1;
  }
  return released;
}

export interface ExpiryOutcome {
  expired: string[];
  /** Expired allocations whose program stops running workloads at the end of the window. */
  stopAllocations: string[];
  returnedGpuSeconds: bigint;
  deliveryIds: string[];
}

/**
 * The end of a window: an allocation whose window has ended becomes `expired` (notified once), and
 * whatever its account still holds returns to the program by an `expire` posting. Holds released
 * after expiry (runs that end later) are returned by a later sweep, each return keyed by its
 * sequence under the allocation's row lock, so a re-run never returns twice.
 */
export async function expireAllocations(
  dataSource: DataSource,
  now: Date,
  limit = 200,
): Promise<ExpiryOutcome> {
  const outcome: ExpiryOutcome = {
    expired: [],
    stopAllocations: [],
    returnedGpuSeconds: 0n,
    deliveryIds: [],
  };
  const due = await dataSource.query<{ id: string }[]>(
    `SELECT a.id FROM allocations a
       LEFT JOIN account_balances b ON b.account = 'allocation:' || a.id
      WHERE a.ends_at <= $1 AND (a.status <> 'expired' OR coalesce(b.balance, 0) > 0)
      ORDER BY a.ends_at, a.id LIMIT $2`,
    [now, limit],
  );
  for (const { id } of due) {
    await dataSource.transaction(async (manager) => {
      const rows = await manager.query<
        {
          status: string;
          project_id: string;
          program_id: string;
          gpu_model: string;
          on_exhaustion: string;
          balance: string;
          returns: number;
        }[]
      >(
        `SELECT a.status, a.project_id, a.program_id, a.gpu_model, p.on_exhaustion,
                coalesce((SELECT balance FROM account_balances WHERE account = 'allocation:' || a.id), 0)::text AS balance,
                (SELECT count(*)::int FROM ledger_transactions t
                  WHERE t.kind = 'expire' AND t.idempotency_key LIKE 'expire:' || a.id || ':%') AS returns
           FROM allocations a JOIN programs p ON p.id = a.program_id
          WHERE a.id = $1 FOR NO KEY UPDATE OF a`,
        [id],
      );
      const allocation = rows[0];
      if (!allocation) return;
      if (allocation.status !== 'expired') {
        await manager.query(
          `UPDATE allocations SET status = 'expired', status_reason = $2, status_changed_at = now() WHERE id = $1`,
          [id, `expired: its window ended`],
        );
        outcome.expired.push(id);
        if (allocation.on_exhaustion === 'stop') outcome.stopAllocations.push(id);
      }
      const balance = BigInt(allocation.balance);
      if (balance > 0n) {
        await postLedgerTransaction(
          manager,
          expireTransaction({
            programId: allocation.program_id,
            gpuModel: allocation.gpu_model,
            allocationId: id,
            gpuSeconds: balance,
            reason: allocation.returns === 0 ? 'window_end' : `after_end_${allocation.returns}`,
          }),
        );
        outcome.returnedGpuSeconds += balance;
      }
      if (allocation.status !== 'expired') {
        const recorded = await recordNotification(manager, {
          projectId: allocation.project_id,
          allocationId: id,
          kind: 'allocation_expired',
          dedupeKey: `allocation_expired:${id}`,
          title: `Allocation expired: ${allocation.gpu_model}`,
          body:
            `The window of allocation ${id} (${allocation.gpu_model}) has ended: no new workloads are admitted` +
            (balance > 0n
              ? ` and its unused ${balance.toString()} GPU-seconds went back to the program.`
              : '.') +
            (allocation.on_exhaustion === 'stop'
              ? ' Its program stops running workloads at the end of the window.'
              : ' Running workloads may finish.'),
          data: { returnedGpuSeconds: balance.toString() },
        });
        if (recorded) outcome.deliveryIds.push(...recorded.deliveryIds);
      }
    });
  }
  return outcome;
}
