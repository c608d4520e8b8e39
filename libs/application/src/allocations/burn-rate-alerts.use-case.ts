import { Injectable } from '@nestjs/common';
import {
  allocationAccount,
  burnRateAlert,
  burnRateAlertKey,
  burnRateLookback,
  consumedAccount,
  holdAccount,
  netGrantedGpuSeconds,
  type UsageAlert,
} from '#domain';
import {
  BurnRateRepository,
  LedgerRepository,
  NotificationsRepository,
  TransactionRunner,
  type RecentAllocationUsage,
} from '#persistence';

const ALERTS_PER_TRANSACTION = 200;

export interface BurnRateSweepResult {
  /** Burn-rate notifications recorded by this run (each allocation at most once per Seoul day). */
  alerts: number;
  /** Webhook deliveries of those notifications: enqueue after this returns. */
  deliveryIds: string[];
}

interface DueAlert {
  allocation: RecentAllocationUsage;
  alert: UsageAlert;
  facts: Record<string, string>;
}

/**
 * Warns the projects whose active allocations, at the pace of the look-back, run out before their
 * window ends (libs/domain burnRateAlert). The look-back is the usage_daily rollups from the Seoul
 * day BURN_RATE_LOOKBACK_DAYS before today through today: [that day's Seoul midnight, now).
 *
 * Reads are batched (the allocations with recent usage, the notifications already sent today, the
 * balances); alerts are recorded in chunked transactions, each once per allocation and Seoul day by
 * its dedupe key, also when sweeps overlap.
 */
@Injectable()
export class BurnRateAlertsUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly burnRates: BurnRateRepository,
    private readonly ledger: LedgerRepository,
    private readonly notifications: NotificationsRepository,
  ) {}

  async execute(now: Date): Promise<BurnRateSweepResult> {
    const result: BurnRateSweepResult = { alerts: 0, deliveryIds: [] };
    const due = await this.dueAlerts(now);
    for (let start = 0; start < due.length; start += ALERTS_PER_TRANSACTION) {
      const chunk = due.slice(start, start + ALERTS_PER_TRANSACTION);
      await this.transactions.run(async (tx) => {
        for (const { allocation, alert, facts } of chunk) {
          const recorded = await this.notifications.record(tx, {
            projectId: allocation.projectId,
            allocationId: allocation.id,
            kind: alert.kind,
            dedupeKey: alert.key,
            title: `Usage pace: ${allocation.gpuModel} allocation runs out early`,
            body: alert.message,
            data: facts,
          });
          if (!recorded) continue;
          result.alerts += 1;
          result.deliveryIds.push(...recorded.deliveryIds);
        }
      });
    }
    return result;
  }

  /** The alerts due now that were not sent today. */
  private async dueAlerts(now: Date): Promise<DueAlert[]> {
    const lookback = burnRateLookback(now);
    const recent = await this.burnRates.recentUsage(lookback.firstDay, lookback.today, now);
    if (recent.length === 0) return [];
    const sent = await this.burnRates.recordedDedupeKeys(recent.map((row) => burnRateAlertKey(row.id, now)));
    const pending = recent.filter((row) => !sent.has(burnRateAlertKey(row.id, now)));
    if (pending.length === 0) return [];
    const balances = await this.transactions.run((tx) =>
      this.ledger.balances(
        tx,
        pending.flatMap((row) => [allocationAccount(row.id), holdAccount(row.id), consumedAccount(row.id)]),
      ),
    );
    const due: DueAlert[] = [];
    for (const allocation of pending) {
      const remaining = balances.get(allocationAccount(allocation.id)) ?? 0n;
      const held = balances.get(holdAccount(allocation.id)) ?? 0n;
      const consumed = balances.get(consumedAccount(allocation.id)) ?? 0n;
      const granted = netGrantedGpuSeconds({ remaining, held, consumed });
      const alert = burnRateAlert(
        { allocationId: allocation.id, gpuModel: allocation.gpuModel, projectName: allocation.projectTitle },
        {
          granted,
          consumed,
          held,
          windowStart: allocation.startsAt,
          windowEnd: allocation.endsAt,
          now,
          recentConsumed: allocation.recent,
          recentWindowSeconds: lookback.windowSeconds,
        },
      );
      if (!alert) continue;
      due.push({
        allocation,
        alert,
        facts: {
          granted: granted.toString(),
          consumed: consumed.toString(),
          held: held.toString(),
          recentConsumed: allocation.recent.toString(),
          recentSince: new Date(lookback.startMs).toISOString(),
        },
      });
    }
    return due;
  }
}
