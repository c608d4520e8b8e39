import { z } from 'zod';
import { integerIn } from '#application';
import { instantField } from '../../allocation-requests/dto/request-line.request.js';
import { textCheckedPerItem } from '../../http/validation.js';

/** At most this many records per call (API.md); bigger exports are sent in several calls. */
export const MAX_USAGE_RECORDS_PER_CALL = 10_000;

const usageRecord = z.strictObject({
  /** The metering system (e.g. `slurm:naver-chuncheon`); with externalId, the record's identity. */
  source: z.string().trim().min(1).max(200),
  /** The record's id in its source; re-sending the same (source, externalId) counts once. */
  externalId: z.string().trim().min(1).max(200),
  allocationId: z.uuid({ message: 'must be a UUID' }),
  workloadId: z.uuid({ message: 'must be a UUID' }).nullish(),
  /** The admission attempt it meters (from the dispatch); without it, the attempt running at startedAt. */
  attempt: integerIn(0, 1_000_000).nullish(),
  gpuModel: z.string().trim().min(1).max(64),
  /** Checked per record (so one bad record does not refuse the batch): a positive whole number. */
  gpus: z.number(),
  startedAt: instantField,
  endedAt: instantField,
});

/**
 * A record's text (source, externalId, gpuModel) with NUL or a lone surrogate is rejected alone, by
 * the use case (INVALID_TEXT), so the validation pipe leaves the records' contents to it.
 */
export const usageRecordsBody = textCheckedPerItem(
  z.strictObject({
    records: z
      .array(usageRecord)
      .min(1, { message: 'must hold at least one record' })
      .max(MAX_USAGE_RECORDS_PER_CALL, {
        message: `must hold at most ${MAX_USAGE_RECORDS_PER_CALL} records; send larger exports in several calls`,
      }),
  }),
  'records[]',
);
export type UsageRecordsBody = z.infer<typeof usageRecordsBody>;

export const usageRecordsResponse = z.object({
  /** Records stored now; their GPU-seconds reach the ledger shortly (queued, posted in bulk). */
  accepted: z.int(),
  /** Records already stored with the same content (a re-send): counted once, nothing changed. */
  duplicates: z.int(),
  /** Records refused, by their index in `records`; nothing of them was stored. */
  rejected: z.array(z.object({ index: z.int(), code: z.string(), message: z.string() })),
  /** The stored batch (null when nothing was new); GET its posting state at /v1/usage/batches/:id. */
  batchId: z.uuid().nullable(),
});
export type UsageRecordsResponse = z.infer<typeof usageRecordsResponse>;

export const usageBatchResponse = z.object({
  id: z.uuid(),
  recordCount: z.int(),
  acceptedCount: z.int(),
  receivedAt: z.string(),
  /** When its ledger postings and rollups were written; null while queued. */
  postedAt: z.string().nullable(),
});
export type UsageBatchResponse = z.infer<typeof usageBatchResponse>;
