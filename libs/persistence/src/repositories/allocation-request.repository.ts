import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AllocationRequestEntity } from '../entities/index.js';
import type { Tx } from '../transaction.js';

/** The allocation request rows (the request lifecycle's aggregate root). */
export abstract class AllocationRequestRepository {
  /** The request, locked FOR UPDATE until the end of `tx` when `lock`. */
  abstract find(tx: Tx | undefined, id: string, lock?: boolean): Promise<AllocationRequestEntity | null>;
  abstract setStatus(tx: Tx, id: string, status: string): Promise<void>;
}

@Injectable()
export class TypeormAllocationRequestRepository extends AllocationRequestRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override find(tx: Tx | undefined, id: string, lock = false): Promise<AllocationRequestEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(AllocationRequestEntity).findOne({
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  override async setStatus(tx: Tx, id: string, status: string): Promise<void> {
    await tx.getRepository(AllocationRequestEntity).update({ id }, { status });
  }
}
