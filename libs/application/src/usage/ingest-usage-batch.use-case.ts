import { Injectable, Logger } from '@nestjs/common';
import {
  classifyResentRecords,
  splitFreshRecords,
  validateUsageRecord,
  type Principal,
  type StoredUsageRecord,
  type UsageBatchClassification,
  type UsageRecordInput,
} from '#domain';
import { TransactionRunner, UsageBatchRepository } from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';

/** One record as an agent sent it: the domain's record plus the attempt it meters, when known. */
export interface UsageRecordSubmission extends UsageRecordInput {
  attempt?: number | null;
}

export interface IngestUsageCommand {
  principal: Principal;
  records: readonly UsageRecordSubmission[];
  /** How far past now a record may end (clock skew), from the process's configuration. */
  futureToleranceMs: number;
  now?: Date;
}

export interface UsageRejection {
  index: number;
  code: string;
  message: string;
}

export interface UsageIngestOutcome {
  accepted: number;
  duplicates: number;
  /** By index into the records sent, in index order. */
  rejected: UsageRejection[];
  /** The stored batch the `usage.post` job posts; null when nothing new was stored. */
  batchId: string | null;
}

export interface StoredUsageBatch extends UsageBatchClassification {
  batchId: string | null;
}

/**
 * Usage records from cluster agents. Each record is validated on its own (a bad one is rejected by
 * index, the rest go on), then the batch is stored in one transaction, deduplicated on
 * (source, externalId) by the database. The ledger and the rollups are posted by the `usage.post`
 * job from what PostgreSQL holds, so a job Redis loses is found again by the usage sweep.
 */
@Injectable()
export class IngestUsageBatchUseCase {
  private readonly logger = new Logger(IngestUsageBatchUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly batches: UsageBatchRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(command: IngestUsageCommand): Promise<UsageIngestOutcome> {
    const { rejected, valid, validIndex } = await this.validate(command);
    if (valid.length === 0) return { accepted: 0, duplicates: 0, rejected, batchId: null };
    const tokenId = command.principal.kind === 'api_token' ? command.principal.tokenId : null;
    const stored = await this.store(tokenId, valid);
    for (const { index, stored: existing } of stored.conflicts) {
      const submitted = command.records[validIndex[index]];
      rejected.push({
        index: validIndex[index],
        code: 'CONFLICTING_DUPLICATE',
        message: conflictMessage(submitted, existing),
      });
    }
    rejected.sort((a, b) => a.index - b.index);
    if (stored.batchId) {
      await enqueueAfterCommit(
        this.producer,
        { name: 'usage.post', data: { batchId: stored.batchId } },
        { logger: this.logger, recoveredBy: 'reconcile.usage' },
      );
    }
    return {
      accepted: stored.accepted.length,
      duplicates: stored.duplicates.length,
      rejected,
      batchId: stored.batchId,
    };
  }

  /**
   * Stores validated records in one transaction: the batch row, then every record in one
   * INSERT … ON CONFLICT DO NOTHING on (source, external_id) (row locks on the records' keys, taken
   * in key order). What the insert returns is accepted; the rest were stored before (or earlier in
   * this batch) and are compared with what is stored. A batch with no accepted record keeps no row
   * (batchId null).
   */
  async store(tokenId: string | null, records: readonly StoredUsageRecord[]): Promise<StoredUsageBatch> {
    return this.transactions.run(async (tx) => {
      const batchId = await this.batches.insertBatch(tx, tokenId, records.length);
      const inserted = await this.batches.insertRecords(tx, batchId, records);
      const { accepted, others } = splitFreshRecords(records, inserted);
      const resent =
        others.length === 0
          ? { duplicates: [], conflicts: [] }
          : classifyResentRecords(
              records,
              others,
              await this.batches.storedRecords(
                tx,
                others.map((index) => records[index]),
              ),
            );
      if (accepted.length === 0) {
        // Nothing new: no batch to post. (Deleting the empty batch row keeps the table honest.)
        await this.batches.deleteBatch(tx, batchId);
        return { batchId: null, accepted, ...resent };
      }
      await this.batches.setAcceptedCount(tx, batchId, accepted.length);
      return { batchId, accepted, ...resent };
    });
  }

  private async validate(command: IngestUsageCommand): Promise<{
    rejected: UsageRejection[];
    valid: StoredUsageRecord[];
    /** For each valid record, its index among the records sent. */
    validIndex: number[];
  }> {
    const now = command.now ?? new Date();
    const { records } = command;
    const allocations = await this.batches.allocationFacts([...new Set(records.map((r) => r.allocationId))]);
    const workloads = await this.batches.workloadFacts([
      ...new Set(records.flatMap((r) => (r.workloadId ? [r.workloadId] : []))),
    ]);
    const rejected: UsageRejection[] = [];
    const valid: StoredUsageRecord[] = [];
    const validIndex: number[] = [];
    records.forEach((record, index) => {
      const verdict = validateUsageRecord(
        record,
        allocations.get(record.allocationId),
        record.workloadId ? (workloads.get(record.workloadId) ?? undefined) : null,
        now,
        command.futureToleranceMs,
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
        attempt: record.attempt ?? null,
        gpuModel: record.gpuModel,
        gpus: record.gpus,
        startedAt: record.startedAt,
        endedAt: record.endedAt,
        gpuSeconds: verdict.gpuSeconds,
        late: verdict.late,
      });
      validIndex.push(index);
    });
    return { rejected, valid, validIndex };
  }
}

function conflictMessage(record: UsageRecordInput, stored: StoredUsageRecord): string {
  return (
    `Record ${record.source}/${record.externalId} was stored before with different content ` +
    `(${stored.gpus} GPUs, ${stored.startedAt.toISOString()}–${stored.endedAt.toISOString()}); ` +
    'a stored record never changes: send a correction under a new externalId.'
  );
}
