import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { ACTIVE_WORKLOAD_STATES, type ProjectScope, type TerminalWorkloadState } from '#domain';
import { AllocationEntity } from '../entities/allocation.entities.js';
import { WorkloadHoldEntity } from '../entities/usage.entities.js';
import { WorkloadEntity } from '../entities/workload.entities.js';
import { keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { projectScopeCondition } from './project-scope.sql.js';

/** A workload row as submitted (the timestamps and relations are the database's). */
export type NewWorkload = Omit<WorkloadEntity, 'allocation' | 'submitter' | 'createdAt' | 'updatedAt'>;

/** A submitted row with the timestamps the submission answers with (no second read). */
export type StampedWorkload = NewWorkload & { createdAt: Date; updatedAt: Date };

export interface WorkloadFilters {
  allocationId?: string | undefined;
  projectId?: string | undefined;
  batchId?: string | undefined;
  state?: string | undefined;
}

export interface WorkloadEndWrite {
  state: TerminalWorkloadState;
  reason: string;
  at: Date;
}

/** An attempt the reconciler looks at: its id, attempt and partition. */
export interface AttemptRef {
  id: string;
  attempt: number;
  gpuModel: string;
}

/**
 * Workload rows: submission, the state columns every transition writes, and the reads of lists and
 * sweeps. Writes inside a transaction take its `tx`; the lock each method takes is named on it.
 */
export abstract class WorkloadRepository {
  /** The allocation a workload is submitted against (or listed by). */
  abstract findAllocation(id: string, tx?: Tx): Promise<AllocationEntity | null>;
  abstract findById(id: string, tx?: Tx): Promise<WorkloadEntity | null>;
  /** Locks: the workload row (SELECT … FOR UPDATE). */
  abstract lockById(tx: Tx, id: string): Promise<WorkloadEntity>;
  /** Locks: the active workloads of the allocation on one partition, in id order (FOR UPDATE). */
  abstract lockActiveOfAllocation(tx: Tx, allocationId: string, gpuModel: string): Promise<WorkloadEntity[]>;
  /** Re-reads rows by id inside the caller's transaction (no row lock). */
  abstract findByIds(tx: Tx, ids: string[]): Promise<WorkloadEntity[]>;
  /** Locks: the workload rows (FOR UPDATE, in id order, one statement); in id order. */
  abstract lockByIds(tx: Tx, ids: string[]): Promise<WorkloadEntity[]>;
  abstract insert(tx: Tx, workload: StampedWorkload): Promise<void>;
  /** Elements of a sweep: the template's columns with each id and name, in multi-row INSERTs. */
  abstract insertBatch(tx: Tx, template: NewWorkload, ids: string[], names: string[]): Promise<void>;
  /** admitted → running. Writes: the workload row. */
  abstract markStarted(tx: Tx, id: string, at: Date): Promise<void>;
  /** The terminal state, its reason and time; the hold figure and the wait columns cleared. */
  abstract markEnded(tx: Tx, id: string, end: WorkloadEndWrite): Promise<void>;
  /**
   * Back to the queue as the next attempt, keeping its original queuedAt; an infrastructure requeue
   * also counts in infrastructureRequeues.
   */
  abstract markRequeued(
    tx: Tx,
    workload: WorkloadEntity,
    reason: string,
    cause: 'preemption' | 'infrastructure',
  ): Promise<void>;
  /** The holds of every admission attempt of the workload, in attempt order: its attempt history. */
  abstract attemptsOf(workloadId: string): Promise<WorkloadHoldEntity[]>;
  /** The infrastructure requeue limit of the workload's program (no lock). */
  abstract requeueLimitOf(tx: Tx, programId: string): Promise<number>;
  /** dispatchedAt for an attempt still admitted or running and not yet marked (outside a transaction). */
  abstract markDispatched(id: string, attempt: number): Promise<void>;
  /** Newest first, within the scope and the filters. */
  abstract list(
    scope: ProjectScope,
    filters: WorkloadFilters,
    page: PageQuery,
  ): Promise<Page<WorkloadEntity>>;
  /** GPU models on which the allocation has admitted or running workloads. */
  abstract modelsWithActiveWorkloads(allocationId: string): Promise<string[]>;
  /** Admitted attempts not dispatched `graceMs` after their admission, oldest first. */
  abstract undispatchedAttempts(graceMs: number, limit: number): Promise<AttemptRef[]>;
  /** Dispatched attempts whose walltime ran out more than `graceMs` ago, by partition then id. */
  abstract overdueAttempts(graceMs: number, limit: number): Promise<AttemptRef[]>;
  /** The database's clock (clock_timestamp()), read inside the transaction. */
  abstract databaseNow(tx: Tx): Promise<Date>;
}

/** Rows per INSERT statement of a batch. */
const BATCH_CHUNK = 1000;

@Injectable()
export class TypeormWorkloadRepository extends WorkloadRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override findAllocation(id: string, tx?: Tx): Promise<AllocationEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(AllocationEntity).findOne({ where: { id } });
  }

  override findById(id: string, tx?: Tx): Promise<WorkloadEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(WorkloadEntity).findOne({ where: { id } });
  }

  override lockById(tx: Tx, id: string): Promise<WorkloadEntity> {
    return tx
      .getRepository(WorkloadEntity)
      .findOneOrFail({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  override lockActiveOfAllocation(tx: Tx, allocationId: string, gpuModel: string): Promise<WorkloadEntity[]> {
    return tx
      .getRepository(WorkloadEntity)
      .createQueryBuilder('w')
      .where('w.allocation_id = :allocationId', { allocationId })
      .andWhere('w.gpu_model = :gpuModel', { gpuModel })
      .andWhere('w.state IN (:...states)', { states: [...ACTIVE_WORKLOAD_STATES] })
      .orderBy('w.id')
      .setLock('pessimistic_write')
      .getMany();
  }

  override findByIds(tx: Tx, ids: string[]): Promise<WorkloadEntity[]> {
    return tx.getRepository(WorkloadEntity).findBy({ id: In(ids) });
  }

  override lockByIds(tx: Tx, ids: string[]): Promise<WorkloadEntity[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return tx
      .getRepository(WorkloadEntity)
      .createQueryBuilder('w')
      .where('w.id IN (:...ids)', { ids })
      .orderBy('w.id')
      .setLock('pessimistic_write')
      .getMany();
  }

  override async insert(tx: Tx, workload: StampedWorkload): Promise<void> {
    // TypeORM rewrites the object it inserts (transformed bigint columns): insert a copy.
    await tx.getRepository(WorkloadEntity).insert({ ...workload });
  }

  override async insertBatch(tx: Tx, template: NewWorkload, ids: string[], names: string[]): Promise<void> {
    for (let start = 0; start < ids.length; start += BATCH_CHUNK) {
      await insertBatchChunk(
        tx,
        template,
        ids.slice(start, start + BATCH_CHUNK),
        names.slice(start, start + BATCH_CHUNK),
      );
    }
  }

  override async markStarted(tx: Tx, id: string, at: Date): Promise<void> {
    await tx.getRepository(WorkloadEntity).update(id, { state: 'running', startedAt: at });
  }

  override async markEnded(tx: Tx, id: string, end: WorkloadEndWrite): Promise<void> {
    await tx.getRepository(WorkloadEntity).update(id, {
      state: end.state,
      endReason: end.reason,
      endedAt: end.at,
      heldGpuSeconds: 0n,
      waitReason: null,
      waitDetail: null,
      queuePosition: null,
      estimatedStartAt: null,
    });
  }

  override async markRequeued(
    tx: Tx,
    workload: WorkloadEntity,
    reason: string,
    cause: 'preemption' | 'infrastructure',
  ): Promise<void> {
    await tx.getRepository(WorkloadEntity).update(workload.id, {
      state: 'queued',
      attempt: workload.attempt + 1,
      infrastructureRequeues: workload.infrastructureRequeues + (cause === 'infrastructure' ? 1 : 0),
      endReason: reason,
      admittedAt: null,
      dispatchedAt: null,
      startedAt: null,
      borrowed: false,
      heldGpuSeconds: 0n,
    });
  }

  override async markDispatched(id: string, attempt: number): Promise<void> {
    // The cluster may already have started it (admitted → running): both count as dispatched.
    await this.dataSource.query(
      `UPDATE workloads SET dispatched_at = clock_timestamp(), updated_at = now()
       WHERE id = $1 AND attempt = $2 AND state IN ('admitted', 'running') AND dispatched_at IS NULL`,
      [id, attempt],
    );
  }

  override list(
    scope: ProjectScope,
    filters: WorkloadFilters,
    page: PageQuery,
  ): Promise<Page<WorkloadEntity>> {
    const builder = this.dataSource.manager.getRepository(WorkloadEntity).createQueryBuilder('w');
    const visible = projectScopeCondition(scope, 'w.project_id');
    builder.andWhere(visible.sql, visible.params);
    if (filters.allocationId !== undefined)
      builder.andWhere('w.allocation_id = :allocationId', { allocationId: filters.allocationId });
    if (filters.projectId !== undefined)
      builder.andWhere('w.project_id = :projectId', { projectId: filters.projectId });
    if (filters.batchId !== undefined)
      builder.andWhere('w.batch_id = :batchId', { batchId: filters.batchId });
    if (filters.state !== undefined) builder.andWhere('w.state = :state', { state: filters.state });
    return keysetPage(builder, page, (row) => row);
  }

  override async modelsWithActiveWorkloads(allocationId: string): Promise<string[]> {
    const rows = await this.dataSource.query<{ gpu_model: string }[]>(
      `SELECT DISTINCT gpu_model FROM workloads WHERE allocation_id = $1 AND state = ANY($2) ORDER BY 1`,
      [allocationId, [...ACTIVE_WORKLOAD_STATES]],
    );
    return rows.map((row) => row.gpu_model);
  }

  override async undispatchedAttempts(graceMs: number, limit: number): Promise<AttemptRef[]> {
    const rows = await this.dataSource.query<{ id: string; attempt: number; gpu_model: string }[]>(
      `SELECT id, attempt, gpu_model FROM workloads
       WHERE state = 'admitted' AND dispatched_at IS NULL
         AND admitted_at < now() - $1::int * interval '1 millisecond'
       ORDER BY admitted_at LIMIT $2`,
      [graceMs, limit],
    );
    return rows.map((row) => ({ id: row.id, attempt: row.attempt, gpuModel: row.gpu_model }));
  }

  override async overdueAttempts(graceMs: number, limit: number): Promise<AttemptRef[]> {
    const rows = await this.dataSource.query<{ id: string; attempt: number; gpu_model: string }[]>(
      `SELECT id, attempt, gpu_model FROM workloads
       WHERE state IN ('admitted', 'running') AND dispatched_at IS NOT NULL
         AND coalesce(started_at, dispatched_at) + walltime_seconds * interval '1 second'
             < now() - $1::int * interval '1 millisecond'
       ORDER BY gpu_model, id LIMIT $2`,
      [graceMs, limit],
    );
    return rows.map((row) => ({ id: row.id, attempt: row.attempt, gpuModel: row.gpu_model }));
  }

  override attemptsOf(workloadId: string): Promise<WorkloadHoldEntity[]> {
    return this.dataSource.getRepository(WorkloadHoldEntity).find({
      where: { workloadId },
      order: { attempt: 'ASC' },
      take: 1000,
    });
  }

  override async requeueLimitOf(tx: Tx, programId: string): Promise<number> {
    const [row] = await tx.query<{ limit: number }[]>(
      `SELECT infrastructure_requeue_limit AS "limit" FROM programs WHERE id = $1`,
      [programId],
    );
    return row?.limit ?? 0;
  }

  override async databaseNow(tx: Tx): Promise<Date> {
    const [clock] = await tx.query<{ now: Date }[]>('SELECT clock_timestamp() AS now');
    return clock?.now ?? new Date();
  }
}

/**
 * One multi-row INSERT of batch elements: they differ only in id and name, so those travel as two
 * arrays and everything else as one value each (TypeORM's builder spends ~0.4 ms a row on this).
 */
async function insertBatchChunk(tx: Tx, row: NewWorkload, ids: string[], names: string[]): Promise<void> {
  await tx.query(
    `INSERT INTO workloads (id, name, allocation_id, project_id, program_id, gpu_model, gpus, walltime_seconds,
                            priority_tier, state, batch_id, submitted_by, simulated_runtime_seconds, queued_at)
     SELECT u.id, u.name, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
       FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`,
    [
      ids,
      names,
      row.allocationId,
      row.projectId,
      row.programId,
      row.gpuModel,
      row.gpus,
      row.walltimeSeconds,
      row.priorityTier,
      row.state,
      row.batchId,
      row.submittedBy,
      row.simulatedRuntimeSeconds,
      row.queuedAt,
    ],
  );
}
