import type { DataSource } from 'typeorm';
import {
  allocationAccount,
  burnRateAlert,
  burnRateAlertKey,
  consumedAccount,
  holdAccount,
  seoulDay,
  SEOUL_OFFSET_MS,
  type UsageAlert,
} from '#domain';
import { accountBalances } from './ledger.repository.js';
import { recordNotification } from './notifications.repository.js';

/** The pace is judged over this many whole Seoul days before today, plus today so far. */
export const BURN_RATE_LOOKBACK_DAYS = 7;
const DAY_MS = 86_400_000;
const ALERTS_PER_TRANSACTION = 200;

export interface BurnRateSweepResult {
  /** Burn-rate notifications recorded by this run (each allocation at most once per Seoul day). */
  alerts: number;
  /** Webhook deliveries of those notifications: enqueue after this returns. */
  deliveryIds: string[];
}

interface RecentRow {
  id: string;
  project_id: string;
  project_title: string;
  gpu_model: string;
  starts_at: Date;
  ends_at: Date;
  recent: string;
}

/**
 * Warns the projects whose active allocations, at the pace of the look-back, run out before their
 * window ends (libs/domain burnRateAlert). The look-back is the usage_daily rollups from the Seoul
 * day BURN_RATE_LOOKBACK_DAYS before today through today: [that day's Seoul midnight, now).
 *
 * The grant the projection uses is the allocation's net grant — remaining + held + consumed — so
 * quota already recalled or expired back to the program is not counted as still available.
 *
 * Reads are batched (one query for the allocations with recent usage, one for the notifications
 * already sent today, one for the balances); alerts are recorded in chunked transactions, each once
 * per allocation and Seoul day by its dedupe key, also when sweeps overlap.
 */
export async function burnRateAlerts(dataSource: DataSource, now: Date): Promise<BurnRateSweepResult> {
  const result: BurnRateSweepResult = { alerts: 0, deliveryIds: [] };
  const today = seoulDay(now);
  const firstDay = seoulDay(now.getTime() - BURN_RATE_LOOKBACK_DAYS * DAY_MS);
  // Seoul midnight opening `firstDay`, as a UTC instant.
  const lookbackStart = Date.parse(`${firstDay}T00:00:00Z`) - SEOUL_OFFSET_MS;
  const recentWindowSeconds = Math.floor((now.getTime() - lookbackStart) / 1000);
  const rows = await dataSource.query<RecentRow[]>(
    `WITH recent AS (
       SELECT allocation_id, sum(gpu_seconds) AS gpu_seconds FROM usage_daily
        WHERE day >= $1::date AND day <= $2::date
        GROUP BY allocation_id HAVING sum(gpu_seconds) > 0
     )
     SELECT a.id, a.project_id, p.title AS project_title, a.gpu_model, a.starts_at, a.ends_at,
            r.gpu_seconds::text AS recent
       FROM recent r
       JOIN allocations a ON a.id = r.allocation_id
       JOIN projects p ON p.id = a.project_id
      WHERE a.status = 'active' AND a.starts_at <= $3 AND $3 < a.ends_at
      ORDER BY a.id`,
    [firstDay, today, now],
  );
  if (rows.length === 0) return result;
  const sent = new Set(
    (
      await dataSource.query<{ dedupe_key: string }[]>(
        'SELECT dedupe_key FROM notifications WHERE dedupe_key = ANY($1)',
        [rows.map((row) => burnRateAlertKey(row.id, now))],
      )
    ).map((row) => row.dedupe_key),
  );
  const pending = rows.filter((row) => !sent.has(burnRateAlertKey(row.id, now)));
  if (pending.length === 0) return result;
  const balances = await accountBalances(
    dataSource.manager,
    pending.flatMap((row) => [allocationAccount(row.id), holdAccount(row.id), consumedAccount(row.id)]),
  );

  const alerts: { row: RecentRow; alert: UsageAlert; facts: Record<string, string> }[] = [];
  for (const row of pending) {
    const remaining = balances.get(allocationAccount(row.id)) ?? 0n;
    const held = balances.get(holdAccount(row.id)) ?? 0n;
    const consumed = balances.get(consumedAccount(row.id)) ?? 0n;
    const granted = remaining + held + consumed;
    const recentConsumed = BigInt(row.recent);
    const alert = burnRateAlert(
      { allocationId: row.id, gpuModel: row.gpu_model, projectName: row.project_title },
      {
        granted,
        consumed,
        held,
        windowStart: new Date(row.starts_at),
        windowEnd: new Date(row.ends_at),
        now,
        recentConsumed,
        recentWindowSeconds,
      },
    );
    if (alert) {
      alerts.push({
        row,
        alert,
        facts: {
          granted: granted.toString(),
          consumed: consumed.toString(),
          held: held.toString(),
          recentConsumed: recentConsumed.toString(),
          recentSince: new Date(lookbackStart).toISOString(),
        },
      });
    }
  }
  for (let start = 0; start < alerts.length; start += ALERTS_PER_TRANSACTION) {
    const chunk = alerts.slice(start, start + ALERTS_PER_TRANSACTION);
    await dataSource.transaction(async (manager) => {
      for (const { row, alert, facts } of chunk) {
        const recorded = await recordNotification(manager, {
          projectId: row.project_id,
          allocationId: row.id,
          kind: alert.kind,
          dedupeKey: alert.key,
          title: `Usage pace: ${row.gpu_model} allocation runs out early`,
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
