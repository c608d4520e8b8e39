/** A validated usage record as it is stored (usage_records): what a re-send is compared against. */
export interface StoredUsageRecord {
  source: string;
  externalId: string;
  allocationId: string;
  workloadId: string | null;
  /** The admission attempt the record meters, when the agent knows it. */
  attempt?: number | null;
  gpuModel: string;
  gpus: number;
  startedAt: Date;
  endedAt: Date;
  gpuSeconds: bigint;
  late: boolean;
}

/** How a stored batch's records came out: indexes into the records given. */
export interface UsageBatchClassification {
  /** Newly stored. */
  accepted: number[];
  /** Already stored with the same content (a re-send): they count once. */
  duplicates: number[];
  /** Stored under the same (source, externalId) with DIFFERENT content: refused, nothing changed. */
  conflicts: { index: number; stored: StoredUsageRecord }[];
}

/** The identity of a record across re-sends: (source, externalId), unambiguous as one string. */
export function usageRecordKey(source: string, externalId: string): string {
  return `${source.length}:${source}${externalId}`;
}

/** Whether a re-sent record says what the stored one says (its metered amount follows from these). */
export function sameUsageRecord(a: StoredUsageRecord, b: StoredUsageRecord): boolean {
  return (
    a.allocationId === b.allocationId &&
    (a.workloadId ?? null) === (b.workloadId ?? null) &&
    (a.attempt ?? null) === (b.attempt ?? null) &&
    a.gpuModel === b.gpuModel &&
    a.gpus === b.gpus &&
    a.startedAt.getTime() === b.startedAt.getTime() &&
    a.endedAt.getTime() === b.endedAt.getTime()
  );
}

/**
 * Splits a batch by what its insert returned: a record is accepted when its key was inserted and it
 * is the first of the batch with that key; every other one must be compared with what is stored.
 */
export function splitFreshRecords(
  records: readonly StoredUsageRecord[],
  insertedKeys: ReadonlySet<string>,
): { accepted: number[]; others: number[] } {
  const accepted: number[] = [];
  const others: number[] = [];
  const seen = new Set<string>();
  records.forEach((record, index) => {
    const key = usageRecordKey(record.source, record.externalId);
    if (insertedKeys.has(key) && !seen.has(key)) accepted.push(index);
    else others.push(index);
    seen.add(key);
  });
  return { accepted, others };
}

/**
 * The records that were not inserted, against what is stored under their keys: the same content is
 * a duplicate, different content a conflict. (A key with nothing stored was inserted concurrently
 * and rolled back; it is neither, as before.)
 */
export function classifyResentRecords(
  records: readonly StoredUsageRecord[],
  others: readonly number[],
  stored: ReadonlyMap<string, StoredUsageRecord>,
): Pick<UsageBatchClassification, 'duplicates' | 'conflicts'> {
  const duplicates: number[] = [];
  const conflicts: UsageBatchClassification['conflicts'] = [];
  for (const index of others) {
    const record = records[index];
    const existing = stored.get(usageRecordKey(record.source, record.externalId));
    if (existing && sameUsageRecord(existing, record)) duplicates.push(index);
    else if (existing) conflicts.push({ index, stored: existing });
  }
  return { duplicates, conflicts };
}
