import { Injectable } from '@nestjs/common';
import { expireTransaction, expiryReturnReason, releaseHoldTransaction } from '#domain';
import {
  LedgerRepository,
  NotificationsRepository,
  TransactionRunner,
  UsageMaintenanceRepository,
  type ExpiringAllocation,
} from '#persistence';

/**
 * Holds kept for the usage of ended attempts are released once METERING_GRACE_MS has passed without
 * it (release_after < now). One short transaction per hold, which locks the hold row (FOR UPDATE)
 * and re-checks it is still due; returns how many were released.
 */
@Injectable()
export class ReleaseStaleHoldsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly maintenance: UsageMaintenanceRepository,
    private readonly ledger: LedgerRepository,
  ) {}

  async execute(now: Date, limit = 500): Promise<number> {
    let released = 0;
    for (const { workloadId, attempt } of await this.maintenance.dueStaleHolds(now, limit)) {
      const done = await this.transactions.run(async (tx) => {
        const hold = await this.maintenance.lockStaleHold(tx, workloadId, attempt, now);
        if (!hold) return false;
        await this.ledger.post(
          tx,
          releaseHoldTransaction({
            allocationId: hold.allocationId,
            workloadId,
            attempt,
            gpuSeconds: hold.remaining,
            stage: 'unmetered',
          }),
        );
        await this.maintenance.clearHold(tx, workloadId, attempt);
        return true;
      });
      if (done) released += 1;
    }
    return released;
  }
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
 * whatever its account still holds returns to the program by an `expire` posting. One transaction
 * per allocation, under its row lock (FOR NO KEY UPDATE), so a re-run never returns twice.
 */
@Injectable()
export class ExpireAllocationsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly maintenance: UsageMaintenanceRepository,
    private readonly ledger: LedgerRepository,
    private readonly notifications: NotificationsRepository,
  ) {}

  async execute(now: Date, limit = 200): Promise<ExpiryOutcome> {
    const outcome: ExpiryOutcome = {
      expired: [],
      stopAllocations: [],
      returnedGpuSeconds: 0n,
      deliveryIds: [],
    };
    for (const id of await this.maintenance.dueExpiries(now, limit)) {
      await this.transactions.run(async (tx) => {
        const allocation = await this.maintenance.lockExpiring(tx, id);
        if (!allocation) return;
        const newlyExpired = allocation.status !== 'expired';
        if (newlyExpired) {
          await this.maintenance.markExpired(tx, id, `expired: its window ended`);
          outcome.expired.push(id);
          if (allocation.onExhaustion === 'stop') outcome.stopAllocations.push(id);
        }
        if (allocation.balance > 0n) {
          await this.ledger.post(
            tx,
            expireTransaction({
              programId: allocation.programId,
              gpuModel: allocation.gpuModel,
              allocationId: id,
              gpuSeconds: allocation.balance,
              reason: expiryReturnReason(allocation.returns),
            }),
          );
          outcome.returnedGpuSeconds += allocation.balance;
        }
        if (newlyExpired) {
          const recorded = await this.notifications.record(tx, {
            projectId: allocation.projectId,
            allocationId: id,
            kind: 'allocation_expired',
            dedupeKey: `allocation_expired:${id}`,
            title: `Allocation expired: ${allocation.gpuModel}`,
            body: expiryMessage(id, allocation),
            data: { returnedGpuSeconds: allocation.balance.toString() },
          });
          if (recorded) outcome.deliveryIds.push(...recorded.deliveryIds);
        }
      });
    }
    return outcome;
  }
}

function expiryMessage(allocationId: string, allocation: ExpiringAllocation): string {
  return (
    `The window of allocation ${allocationId} (${allocation.gpuModel}) has ended: no new workloads are admitted` +
    (allocation.balance > 0n
      ? ` and its unused ${allocation.balance.toString()} GPU-seconds went back to the program.`
      : '.') +
    (allocation.onExhaustion === 'stop'
      ? ' Its program stops running workloads at the end of the window.'
      : ' Running workloads may finish.')
  );
}
