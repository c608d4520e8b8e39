import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface StatusCount {
  status: string;
  count: number;
}

/** The counts operators' gauges read (no business decisions, one query each). */
@Injectable()
export class OperationsMetricsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Grant intents by status: pending ones wait for the scheduler or the reconciler. */
  async grantIntentCounts(): Promise<StatusCount[]> {
    const rows = await this.dataSource.query<{ status: string; count: string }[]>(
      'SELECT status, count(*)::text AS count FROM grant_intents GROUP BY status',
    );
    return rows.map((row) => ({ status: row.status, count: Number(row.count) }));
  }
}
