import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** An active allocation with usage in the look-back. */
export interface RecentAllocationUsage {
  id: string;
  projectId: string;
  projectTitle: string;
  gpuModel: string;
  startsAt: Date;
  endsAt: Date;
  /** GPU-seconds in the daily rollups of the look-back's days. */
  recent: bigint;
}

/** What the burn-rate sweep reads: recent usage of active allocations and the alerts already sent. */
export abstract class BurnRateRepository {
  /** Active allocations at `now` with usage on the Seoul days [firstDay, today], in id order. */
  abstract recentUsage(firstDay: string, today: string, now: Date): Promise<RecentAllocationUsage[]>;
  /** Which of these notification dedupe keys are already recorded. */
  abstract recordedDedupeKeys(keys: string[]): Promise<Set<string>>;
}

@Injectable()
export class TypeormBurnRateRepository extends BurnRateRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async recentUsage(firstDay: string, today: string, now: Date): Promise<RecentAllocationUsage[]> {
    const rows = await this.dataSource.query<
      {
        id: string;
        project_id: string;
        project_title: string;
        gpu_model: string;
        starts_at: Date;
        ends_at: Date;
        recent: string;
      }[]
    >(
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
    return rows.map((row) => ({
      id: row.id,
      projectId: row.project_id,
      projectTitle: row.project_title,
      gpuModel: row.gpu_model,
      startsAt: new Date(row.starts_at),
      endsAt: new Date(row.ends_at),
      recent: BigInt(row.recent),
    }));
  }

  override async recordedDedupeKeys(keys: string[]): Promise<Set<string>> {
    const rows = await this.dataSource.query<{ dedupe_key: string }[]>(
      'SELECT dedupe_key FROM notifications WHERE dedupe_key = ANY($1)',
      [keys],
    );
    return new Set(rows.map((row) => row.dedupe_key));
  }
}
