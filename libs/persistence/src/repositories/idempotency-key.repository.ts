import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { IdempotencyKeyEntity } from '../entities/audit.entities.js';

export type StoredAnswer = Pick<
  IdempotencyKeyEntity,
  'principal' | 'key' | 'method' | 'path' | 'requestHash' | 'statusCode' | 'responseBody'
>;

/** First answers to writes sent with an Idempotency-Key, per principal and key. */
@Injectable()
export class IdempotencyKeyRepository {
  constructor(private readonly dataSource: DataSource) {}

  find(principal: string, key: string): Promise<IdempotencyKeyEntity | null> {
    return this.dataSource.getRepository(IdempotencyKeyEntity).findOne({ where: { principal, key } });
  }

  /** Keeps the first answer: a concurrent second insert of the same key is ignored. */
  async remember(answer: StoredAnswer): Promise<void> {
    await this.dataSource
      .getRepository(IdempotencyKeyEntity)
      .createQueryBuilder()
      .insert()
      .values({ ...answer, responseBody: answer.responseBody as object })
      .orIgnore()
      .execute();
  }
}
