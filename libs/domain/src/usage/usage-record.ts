import { invalid } from '../errors/domain-error.js';
import { unstorableTextProblem } from '../text/storable-text.js';
import { formatInstant, isValidInstant } from '../units/time-window.js';

/**
 * One metered interval reported by a cluster agent. (source, externalId) is the record's identity:
 * delivering it again must not count it again (invariant 4).
 */
export interface UsageRecordInput {
  /** Which agent or cluster reported it, e.g. "simulator" or "slurm:gaia". */
  source: string;
  /** The agent's own id of the record, unique within its source. */
  externalId: string;
  allocationId: string;
  workloadId?: string | null;
  gpuModel: string;
  gpus: number;
  startedAt: Date;
  endedAt: Date;
}

/** What validation needs to know about the allocation a record names. */
export interface UsageAllocationFacts {
  allocationId: string;
  gpuModel: string;
  /** The allocation window, half-open. */
  startsAt: Date;
  endsAt: Date;
  /**
   * Informational only: a suspended, exhausted or expired allocation still gets its usage recorded,
   * because usage is a fact that already happened (invariant 2), never something to refuse.
   */
  status: string;
}

/** What validation needs to know about the workload a record names. */
export interface UsageWorkloadFacts {
  id: string;
  allocationId: string;
}

/** More GPUs than any one workload can hold on the 50,000-GPU pool, with room to spare. */
export const MAX_USAGE_RECORD_GPUS = 100_000;
/** A longer record is almost certainly a clock or unit error; agents report at least monthly. */
export const MAX_USAGE_RECORD_MS = 31 * 24 * 3600 * 1000;
/** Clock skew allowed between a cluster agent and the pool before an end time counts as future. */
export const USAGE_FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

export const USAGE_REJECTION_CODES = [
  'INVALID_TEXT',
  'INVALID_RECORD_KEY',
  'INVALID_GPUS',
  'INVALID_TIMESTAMP',
  'END_NOT_AFTER_START',
  'RECORD_TOO_LONG',
  'IN_THE_FUTURE',
  'UNKNOWN_ALLOCATION',
  'GPU_MODEL_MISMATCH',
  'OUTSIDE_ALLOCATION_WINDOW',
  'UNKNOWN_WORKLOAD',
  'WORKLOAD_NOT_IN_ALLOCATION',
] as const;
export type UsageRejectionCode = (typeof USAGE_REJECTION_CODES)[number];

export type UsageRecordVerdict =
  | {
      ok: true;
      gpuSeconds: bigint;
      /** Ran past the window end, or arrived after the window closed: finance may need an adjustment. */
      late: boolean;
    }
  | { ok: false; code: UsageRejectionCode; message: string };

function isPositiveGpuCount(gpus: number): boolean {
  return Number.isSafeInteger(gpus) && gpus > 0 && gpus <= MAX_USAGE_RECORD_GPUS;
}

/**
 * Whole seconds billed for an interval, under the rule "a started second counts": 1 ms is 1 s,
 * 1000 ms is 1 s, 1001 ms is 2 s. Throws END_NOT_AFTER_START for an empty or reversed interval.
 */
export function meteredDurationSeconds(startedAt: Date, endedAt: Date): bigint {
  const durationMs = endedAt.getTime() - startedAt.getTime();
  if (!(durationMs > 0)) {
    throw invalid(
      'END_NOT_AFTER_START',
      `Usage must end after it starts; got ${formatInstant(startedAt)} to ${formatInstant(endedAt)}.`,
    );
  }
  return (BigInt(durationMs) + 999n) / 1000n;
}

/** gpus × metered seconds, exact. Throws INVALID_GPUS or END_NOT_AFTER_START for input a record may not have. */
export function meteredGpuSeconds(gpus: number, startedAt: Date, endedAt: Date): bigint {
  if (!isPositiveGpuCount(gpus)) {
    throw invalid(
      'INVALID_GPUS',
      `Usage needs a whole number of GPUs from 1 to ${MAX_USAGE_RECORD_GPUS}, got ${gpus}.`,
    );
  }
  return BigInt(gpus) * meteredDurationSeconds(startedAt, endedAt);
}

type Rejection = Extract<UsageRecordVerdict, { ok: false }>;

function reject(code: UsageRejectionCode, message: string): Rejection {
  return { ok: false, code, message };
}

/** Problems of the record on its own, whatever it names: cheapest first, and independent of lookups. */
function shapeProblem(record: UsageRecordInput, now: Date, futureToleranceMs: number): Rejection | undefined {
  // First: the other messages quote the record's text, and this text cannot be stored or quoted.
  for (const field of ['source', 'externalId', 'gpuModel'] as const) {
    const problem = unstorableTextProblem(record[field]);
    if (problem !== undefined) {
      return reject(
        'INVALID_TEXT',
        `A usage record's ${field} ${problem}; nothing of this record was stored.`,
      );
    }
  }
  const id = `Usage record "${record.externalId}"`;
  if (record.source.trim() === '' || record.externalId.trim() === '') {
    return reject(
      'INVALID_RECORD_KEY',
      `A usage record needs a non-empty source and externalId (got source "${record.source}", externalId "${record.externalId}"); they identify it so that re-sending counts once.`,
    );
  }
  if (!isPositiveGpuCount(record.gpus)) {
    return reject(
      'INVALID_GPUS',
      `${id} reports ${record.gpus} GPUs; send a whole number from 1 to ${MAX_USAGE_RECORD_GPUS}.`,
    );
  }
  if (!isValidInstant(record.startedAt) || !isValidInstant(record.endedAt)) {
    return reject(
      'INVALID_TIMESTAMP',
      `${id} has an invalid start or end time; send both as ISO 8601 instants such as 2026-05-01T09:00:00Z.`,
    );
  }
  const durationMs = record.endedAt.getTime() - record.startedAt.getTime();
  if (durationMs <= 0) {
    return reject(
      'END_NOT_AFTER_START',
      `${id} ends (${formatInstant(record.endedAt)}) at or before it starts (${formatInstant(record.startedAt)}); send an interval that ends after it starts.`,
    );
  }
  if (durationMs > MAX_USAGE_RECORD_MS) {
    return reject(
      'RECORD_TOO_LONG',
      `${id} spans ${formatInstant(record.startedAt)} to ${formatInstant(record.endedAt)}, more than 31 days; split it into records of at most 31 days.`,
    );
  }
  if (record.endedAt.getTime() > now.getTime() + futureToleranceMs) {
    return reject(
      'IN_THE_FUTURE',
      `${id} ends at ${formatInstant(record.endedAt)}, more than ${Math.round(futureToleranceMs / 60_000)} minutes after now (${formatInstant(now)}); check the agent's clock and send usage only once it has run.`,
    );
  }
  return undefined;
}

/** Problems of the record against the allocation (known to exist) and the workload it names. */
function referenceProblem(
  record: UsageRecordInput,
  allocation: UsageAllocationFacts,
  workload: UsageWorkloadFacts | undefined | null,
): Rejection | undefined {
  const id = `Usage record "${record.externalId}"`;
  if (record.gpuModel !== allocation.gpuModel) {
    return reject(
      'GPU_MODEL_MISMATCH',
      `${id} reports ${record.gpuModel} GPUs, but allocation ${allocation.allocationId} is for ${allocation.gpuModel}; report the model the workload ran on against an allocation for that model.`,
    );
  }
  const startedAt = record.startedAt.getTime();
  if (startedAt < allocation.startsAt.getTime() || startedAt >= allocation.endsAt.getTime()) {
    return reject(
      'OUTSIDE_ALLOCATION_WINDOW',
      `${id} starts at ${formatInstant(record.startedAt)}, outside allocation ${allocation.allocationId}'s window ${formatInstant(allocation.startsAt)} to ${formatInstant(allocation.endsAt)}; usage must start inside the window it is charged to.`,
    );
  }
  const workloadId = record.workloadId ?? null;
  if (workloadId === null) return undefined;
  if (workload === undefined || workload === null) {
    return reject(
      'UNKNOWN_WORKLOAD',
      `${id} names workload ${workloadId}, which does not exist; send the workload id the pool dispatched, or leave it out.`,
    );
  }
  if (workload.allocationId !== allocation.allocationId) {
    return reject(
      'WORKLOAD_NOT_IN_ALLOCATION',
      `${id} names workload ${workloadId}, which runs against allocation ${workload.allocationId}, not ${allocation.allocationId}; send the workload's own allocation id.`,
    );
  }
  return undefined;
}

/**
 * Decides whether a usage record can be metered, and for how many GPU-seconds. Checks run in a fixed
 * order and the first failure is returned: the record's own shape (key, GPUs, timestamps, length,
 * future), then the allocation it names (exists, GPU model, window), then the workload. A record that
 * passes is always recorded, even past the window end (`late`): usage is a fact, never dropped.
 */
export function validateUsageRecord(
  record: UsageRecordInput,
  allocation: UsageAllocationFacts | undefined,
  workload: UsageWorkloadFacts | undefined | null,
  now: Date,
  /**
   * How far past `now` a record may end (clock skew). Default USAGE_FUTURE_TOLERANCE_MS; the
   * simulated cluster, whose clock runs faster than the wall clock, is given more.
   */
  futureToleranceMs = USAGE_FUTURE_TOLERANCE_MS,
): UsageRecordVerdict {
  const shape = shapeProblem(record, now, futureToleranceMs);
  if (shape !== undefined) return shape;
  if (allocation === undefined) {
    return reject(
      'UNKNOWN_ALLOCATION',
      `Usage record "${record.externalId}" names allocation ${record.allocationId}, which does not exist; send the allocation id the workload was admitted against.`,
    );
  }
  const reference = referenceProblem(record, allocation, workload);
  if (reference !== undefined) return reference;
  const windowEnd = allocation.endsAt.getTime();
  return {
    ok: true,
    gpuSeconds: meteredGpuSeconds(record.gpus, record.startedAt, record.endedAt),
    late: record.endedAt.getTime() > windowEnd || now.getTime() > windowEnd,
  };
}
