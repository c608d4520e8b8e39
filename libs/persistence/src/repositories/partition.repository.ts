import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Tx } from '../transaction.js';

/**
 * A GPU model's partition: its advisory lock and its triggers (the outbox that says "this partition
 * needs a cycle"). The free functions are the SQL; `PartitionRepository` is the port use cases
 * inject (callers not yet moved to use cases still call the functions with their manager).
 */

/**
 * Serializes everything that changes a GPU-model partition's placements or node capacity: the
 * cycle, completions, cancellations, node state changes. Lock: the transaction-level advisory lock
 * (hashtext('gpupool:partition'), hashtext(model)), held until the transaction ends.
 */
export async function lockPartition(tx: Tx, gpuModel: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('gpupool:partition'), hashtext($1))", [gpuModel]);
}

/** The cycle's lock: returns false at once when another process is running this partition's cycle. */
export async function tryLockPartition(tx: Tx, gpuModel: string): Promise<boolean> {
  const rows = await tx.query<{ locked: boolean }[]>(
    "SELECT pg_try_advisory_xact_lock(hashtext('gpupool:partition'), hashtext($1)) AS locked",
    [gpuModel],
  );
  return rows[0]?.locked === true;
}

/** Something changed that may let a queued workload start: the partition needs a cycle. */
export async function markPartitionDirty(tx: Tx, gpuModel: string): Promise<void> {
  await tx.query('INSERT INTO partition_triggers (gpu_model) VALUES ($1)', [gpuModel]);
}

/** The cycle takes the triggers it can see; any committed after this keep the partition dirty. */
export async function consumePartitionTriggers(tx: Tx, gpuModel: string): Promise<void> {
  await tx.query('DELETE FROM partition_triggers WHERE gpu_model = $1', [gpuModel]);
}

/** True while a trigger of the partition waits for a cycle. */
export async function partitionIsDirty(tx: Tx, gpuModel: string): Promise<boolean> {
  const rows = await tx.query<{ dirty: boolean }[]>(
    'SELECT EXISTS (SELECT 1 FROM partition_triggers WHERE gpu_model = $1) AS dirty',
    [gpuModel],
  );
  return rows[0]?.dirty === true;
}

export abstract class PartitionRepository {
  /** Blocks until this transaction holds the partition's advisory lock. */
  abstract lock(tx: Tx, gpuModel: string): Promise<void>;
  abstract markDirty(tx: Tx, gpuModel: string): Promise<void>;
  /**
   * Models due a cycle: every partition with a trigger, and every partition with queued work whose
   * last cycle is older than `intervalMs` (or that never ran one).
   */
  abstract modelsDueForCycle(intervalMs: number): Promise<string[]>;
}

@Injectable()
export class TypeormPartitionRepository extends PartitionRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override lock(tx: Tx, gpuModel: string): Promise<void> {
    return lockPartition(tx, gpuModel);
  }

  override markDirty(tx: Tx, gpuModel: string): Promise<void> {
    return markPartitionDirty(tx, gpuModel);
  }

  override async modelsDueForCycle(intervalMs: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ gpu_model: string }[]>(
      `SELECT DISTINCT gpu_model FROM partition_triggers
       UNION
       SELECT m.gpu_model FROM (SELECT DISTINCT gpu_model FROM node_pools) m
       LEFT JOIN scheduling_partitions p ON p.gpu_model = m.gpu_model
       WHERE (p.last_cycle_at IS NULL OR p.last_cycle_at < now() - $1::int * interval '1 millisecond')
         AND EXISTS (SELECT 1 FROM workloads w WHERE w.gpu_model = m.gpu_model AND w.state = 'queued')`,
      [intervalMs],
    );
    return rows.map((row) => row.gpu_model);
  }
}
