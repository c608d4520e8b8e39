import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  notFound,
  validateUsageRecord,
  type UsageAllocationFacts,
  type UsageRecordInput,
  type UsageWorkloadFacts,
} from '#domain';
import { storeUsageBatch, UsageBatchEntity, type StoredUsageRecord } from '#persistence';
import type { GpupoolConfig } from '#config';
import type { Principal } from '../auth/principal.js';
import { InjectConfig } from '../common/config.provider.js';
import { WorkloadJobs } from '../workloads/workload-jobs.js';
import type {
  UsageBatchResponse,
  UsageRecordsBody,
  UsageRecordsResponse,
} from './dto/usage-records.request.js';

/**
 * Usage records from cluster agents. Each record is validated on its own (a bad one is rejected by
 * index, the rest go on), then the batch is stored in one transaction, deduplicated on
 * (source, externalId) by the database. The ledger and the rollups are posted by the `usage.post`
 * job from what PostgreSQL holds, so a job Redis loses is found again by the usage sweep.
 */
@Injectable()
export class UsageIngestService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: WorkloadJobs,
    @InjectConfig() private readonly config: GpupoolConfig,
  ) {}

  async ingest(principal: Principal, body: UsageRecordsBody): Promise<UsageRecordsResponse> {
    const now = new Date();
    const records = body.records.map((record): UsageRecordInput => ({
      source: record.source,
      externalId: record.externalId,
      allocationId: record.allocationId,
      workloadId: record.workloadId ?? null,
      gpuModel: record.gpuModel,
      gpus: record.gpus,
      startedAt: new Date(record.startedAt),
      endedAt: new Date(record.endedAt),
    }));
    const allocations = await this.allocations(records);
    const workloads = await this.workloads(records);
    const rejected: UsageRecordsResponse['rejected'] = [];
    const valid: StoredUsageRecord[] = [];
    const validIndex: number[] = [];
    records.forEach((record, index) => {
      const verdict = validateUsageRecord(
        record,
        allocations.get(record.allocationId),
        record.workloadId ? (workloads.get(record.workloadId) ?? undefined) : null,
        now,
        this.config.USAGE_FUTURE_TOLERANCE_MS,
      );
      if (!verdict.ok) {
        rejected.push({ index, code: verdict.code, message: verdict.message });
        return;
      }
      valid.push({
        source: record.source,
        externalId: record.externalId,
        allocationId: record.allocationId,
        workloadId: record.workloadId ?? null,
        attempt: body.records[index].attempt ?? null,
        gpuModel: record.gpuModel,
        gpus: record.gpus,
        startedAt: record.startedAt,
        endedAt: record.endedAt,
        gpuSeconds: verdict.gpuSeconds,
        late: verdict.late,
      });
      validIndex.push(index);
    });
    if (valid.length === 0) return { accepted: 0, duplicates: 0, rejected, batchId: null };
    const tokenId = principal.kind === 'api_token' ? principal.tokenId : null;
    const stored = await storeUsageBatch(this.dataSource, tokenId, valid);
    for (const conflict of stored.conflicts) {
      const index = validIndex[conflict.index];
      const record = records[index];
      rejected.push({
        index,
        code: 'CONFLICTING_DUPLICATE',
        message:
          `Record ${record.source}/${record.externalId} was stored before with different content ` +
          `(${conflict.stored.gpus} GPUs, ${conflict.stored.startedAt.toISOString()}–${conflict.stored.endedAt.toISOString()}); ` +
          'a stored record never changes: send a correction under a new externalId.',
      });
    }
    rejected.sort((a, b) => a.index - b.index);
    if (stored.batchId) {
      await this.jobs.afterCommit([{ name: 'usage.post', data: { batchId: stored.batchId } }]);
    }
    return {
      accepted: stored.accepted.length,
      duplicates: stored.duplicates.length,
      rejected,
      batchId: stored.batchId,
    };
  }

  async batch(id: string): Promise<UsageBatchResponse> {
    const batch = await this.dataSource.getRepository(UsageBatchEntity).findOne({ where: { id } });
    if (!batch) throw notFound('Usage batch', id);
    return {
      id: batch.id,
      recordCount: batch.recordCount,
      acceptedCount: batch.acceptedCount,
      receivedAt: batch.receivedAt.toISOString(),
      postedAt: batch.postedAt ? batch.postedAt.toISOString() : null,
    };
  }

  private async allocations(records: UsageRecordInput[]): Promise<Map<string, UsageAllocationFacts>> {
    const ids = [...new Set(records.map((record) => record.allocationId))];
    const rows = await this.dataSource.query<
      { id: string; gpu_model: string; starts_at: Date; ends_at: Date; status: string }[]
    >('SELECT id, gpu_model, starts_at, ends_at, status FROM allocations WHERE id = ANY($1::uuid[])', [ids]);
    return new Map(
      rows.map((row) => [
        row.id,
        {
          allocationId: row.id,
          gpuModel: row.gpu_model,
          startsAt: new Date(row.starts_at),
          endsAt: new Date(row.ends_at),
          status: row.status,
        },
      ]),
    );
  }

  private async workloads(records: UsageRecordInput[]): Promise<Map<string, UsageWorkloadFacts>> {
    const ids = [...new Set(records.flatMap((record) => (record.workloadId ? [record.workloadId] : [])))];
    if (ids.length === 0) return new Map();
    const rows = await this.dataSource.query<{ id: string; allocation_id: string }[]>(
      'SELECT id, allocation_id FROM workloads WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return new Map(rows.map((row) => [row.id, { id: row.id, allocationId: row.allocation_id }]));
  }
}
