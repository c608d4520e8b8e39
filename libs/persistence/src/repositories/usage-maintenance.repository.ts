import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Tx } from '../transaction.js';

/** An allocation whose window ended, locked for its expiry. */
export interface ExpiringAllocation {
  status: string;
  projectId: string;
  programId: string;
  gpuModel: string;
  onExhaustion: string;
  /** What its account still holds. */
  balance: bigint;
  /** `expire` postings already made for it (the first returns at the window's end, later ones after). */
  returns: number;
}

/**
 * What the usage sweeps read and write by time: holds whose usage never came and windows that ended.
 */
export abstract class UsageMaintenanceRepository {
  /** Attempt holds still holding something whose release time passed, oldest due first. */
  abstract dueStaleHolds(now: Date, limit: number): Promise<{ workloadId: string; attempt: number }[]>;
  /** Locks one such hold (FOR UPDATE) if it is still due; null when another sweep released it. */
  abstract lockStaleHold(
    tx: Tx,
    workloadId: string,
    attempt: number,
    now: Date,
  ): Promise<{ allocationId: string; remaining: bigint } | null>;
  abstract clearHold(tx: Tx, workloadId: string, attempt: number): Promise<void>;

  /** Allocations whose window ended and that are not expired yet or still hold quota. */
  abstract dueExpiries(now: Date, limit: number): Promise<string[]>;
  /** Locks the allocation row (FOR NO KEY UPDATE) with what its expiry needs; null when it is gone. */
  abstract lockExpiring(tx: Tx, allocationId: string): Promise<ExpiringAllocation | null>;
  abstract markExpired(tx: Tx, allocationId: string, reason: string): Promise<void>;
}

@Injectable()
export class TypeormUsageMaintenanceRepository extends UsageMaintenanceRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async dueStaleHolds(now: Date, limit: number): Promise<{ workloadId: string; attempt: number }[]> {
    const rows = await this.dataSource.query<{ workload_id: string; attempt: number }[]>(
      `SELECT workload_id, attempt FROM workload_holds
        WHERE remaining_gpu_seconds > 0 AND release_after IS NOT NULL AND release_after < $1
        ORDER BY release_after LIMIT $2`,
      [now, limit],
    );
    return rows.map((row) => ({ workloadId: row.workload_id, attempt: row.attempt }));
  }

  override async lockStaleHold(
    tx: Tx,
    workloadId: string,
    attempt: number,
    now: Date,
  ): Promise<{ allocationId: string; remaining: bigint } | null> {
    const rows = await tx.query<{ allocation_id: string; remaining: string }[]>(
      `SELECT allocation_id, remaining_gpu_seconds::text AS remaining FROM workload_holds
        WHERE workload_id = $1 AND attempt = $2 AND remaining_gpu_seconds > 0
          AND release_after IS NOT NULL AND release_after < $3
        FOR UPDATE`,
      [workloadId, attempt, now],
    );
    const hold = rows[0];
    return hold ? { allocationId: hold.allocation_id, remaining: BigInt(hold.remaining) } : null;
  }

  override async clearHold(tx: Tx, workloadId: string, attempt: number): Promise<void> {
    await tx.query(
      `UPDATE workload_holds SET remaining_gpu_seconds = 0, release_after = NULL
        WHERE workload_id = $1 AND attempt = $2`,
      [workloadId, attempt],
    );
  }

  override async dueExpiries(now: Date, limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT a.id FROM allocations a
         LEFT JOIN account_balances b ON b.account = 'allocation:' || a.id
        WHERE a.ends_at <= $1 AND (a.status <> 'expired' OR coalesce(b.balance, 0) > 0)
        ORDER BY a.ends_at, a.id LIMIT $2`,
      [now, limit],
    );
    return rows.map((row) => row.id);
  }

  override async lockExpiring(tx: Tx, allocationId: string): Promise<ExpiringAllocation | null> {
    const rows = await tx.query<
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
      [allocationId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      status: row.status,
      projectId: row.project_id,
      programId: row.program_id,
      gpuModel: row.gpu_model,
      onExhaustion: row.on_exhaustion,
      balance: BigInt(row.balance),
      returns: row.returns,
    };
  }

  override async markExpired(tx: Tx, allocationId: string, reason: string): Promise<void> {
    await tx.query(
      `UPDATE allocations SET status = 'expired', status_reason = $2, status_changed_at = now() WHERE id = $1`,
      [allocationId, reason],
    );
  }
}
