import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency keys reserved in the work's own transaction (issue 13 item 2): a key row is inserted
 * by the first transaction of the request (its answer still null), so a concurrent duplicate waits
 * on the key and the work can never commit without its key; the answer is written right after.
 */
export class IdempotencyReservations1764270000009 implements MigrationInterface {
  name = 'IdempotencyReservations1764270000009';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "idempotency_keys" ALTER COLUMN "status_code" DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE "idempotency_keys" ALTER COLUMN "response_body" DROP NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DELETE FROM "idempotency_keys" WHERE "status_code" IS NULL`);
    await queryRunner.query(`ALTER TABLE "idempotency_keys" ALTER COLUMN "response_body" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "idempotency_keys" ALTER COLUMN "status_code" SET NOT NULL`);
  }
}
