import { Injectable } from '@nestjs/common';
import { WorkloadHoldEntity } from '../entities/usage.entities.js';
import type { Tx } from '../transaction.js';

export interface AttemptKey {
  workloadId: string;
  attempt: number;
}

export type NewAttemptHold = Pick<
  WorkloadHoldEntity,
  | 'workloadId'
  | 'attempt'
  | 'allocationId'
  | 'heldGpuSeconds'
  | 'remainingGpuSeconds'
  | 'admittedAt'
  | 'startedAt'
>;

export type AttemptHoldClose = Pick<
  WorkloadHoldEntity,
  'remainingGpuSeconds' | 'endedAt' | 'releaseAfter' | 'refundReason' | 'refundedGpuSeconds'
>;

/** The hold of each admission attempt (`workload_holds`), which usage records draw on. */
export abstract class AttemptHoldRepository {
  /** Locks: the attempt's workload_holds row (SELECT … FOR UPDATE); null when it has none. */
  abstract lockHold(tx: Tx, key: AttemptKey): Promise<WorkloadHoldEntity | null>;
  abstract insert(tx: Tx, hold: NewAttemptHold): Promise<void>;
  abstract markStarted(tx: Tx, key: AttemptKey, at: Date): Promise<void>;
  abstract close(tx: Tx, key: AttemptKey, close: AttemptHoldClose): Promise<void>;
}

@Injectable()
export class TypeormAttemptHoldRepository extends AttemptHoldRepository {
  override lockHold(tx: Tx, key: AttemptKey): Promise<WorkloadHoldEntity | null> {
    return tx
      .getRepository(WorkloadHoldEntity)
      .findOne({ where: { ...key }, lock: { mode: 'pessimistic_write' } });
  }

  override async insert(tx: Tx, hold: NewAttemptHold): Promise<void> {
    await tx.getRepository(WorkloadHoldEntity).insert({ ...hold });
  }

  override async markStarted(tx: Tx, key: AttemptKey, at: Date): Promise<void> {
    await tx.getRepository(WorkloadHoldEntity).update({ ...key }, { startedAt: at });
  }

  override async close(tx: Tx, key: AttemptKey, close: AttemptHoldClose): Promise<void> {
    await tx.getRepository(WorkloadHoldEntity).update({ ...key }, { ...close });
  }
}
