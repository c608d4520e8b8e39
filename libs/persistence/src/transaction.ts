import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { reserveIdempotencyKey } from './idempotency-scope.js';

/**
 * A unit of work: what a use case's repositories write inside one database transaction. Opaque to
 * use cases (they pass it to repository methods and never query it themselves).
 */
export type Tx = EntityManager;

export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

export interface TransactionOptions {
  isolation?: IsolationLevel;
}

/**
 * The port use cases open transactions through (a DI token). The TypeORM implementation below is
 * what both processes bind; unit tests bind a fake that runs the work with a dummy unit of work.
 */
export abstract class TransactionRunner {
  abstract run<T>(work: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T>;
}

@Injectable()
export class TypeormTransactionRunner extends TransactionRunner {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  /**
   * Inside a request sent with an Idempotency-Key, the first transaction also reserves the key
   * (see reserveIdempotencyKey): the work and its key commit together.
   */
  override async run<T>(work: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let release: (() => void) | null = null;
    const reserving = async (tx: Tx): Promise<T> => {
      release = await reserveIdempotencyKey(tx);
      return work(tx);
    };
    try {
      return await (options.isolation
        ? this.dataSource.transaction(options.isolation, reserving)
        : this.dataSource.transaction(reserving));
    } catch (error) {
      (release as (() => void) | null)?.();
      throw error;
    }
  }
}
