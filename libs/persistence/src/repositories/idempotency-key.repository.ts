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

  /**
   * The answer of a request whose transaction reserved the key (see reserveIdempotencyKey), written
   * right after that commit; a stored answer is never replaced.
   */
  async storeAnswer(
    principal: string,
    key: string,
    statusCode: number,
    responseBody: unknown,
  ): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys SET status_code = $3, response_body = $4::jsonb
        WHERE principal = $1 AND key = $2 AND status_code IS NULL`,
      [principal, key, statusCode, JSON.stringify(responseBody ?? null)],
    );
  }

  /**
   * A reservation whose request failed after its first transaction committed: the key is freed, as
   * a failed request's key always was (only successful answers are kept).
   */
  async forget(principal: string, key: string): Promise<void> {
    await this.dataSource.query(
      'DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status_code IS NULL',
      [principal, key],
    );
  }

  /**
   * Keeps the first answer of a request that ran no transaction through TransactionRunner (nothing
   * reserved the key): a concurrent second insert of the same key is ignored.
   */
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
