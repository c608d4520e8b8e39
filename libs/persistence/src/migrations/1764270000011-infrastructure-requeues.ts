import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Requeue on infrastructure failure (issue 13 item 8): a workload failed by a node going down or a
 * lost run goes back to the queue with its age, up to its program's limit of such requeues.
 */
export class InfrastructureRequeues1764270000011 implements MigrationInterface {
  name = 'InfrastructureRequeues1764270000011';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "programs" ADD "infrastructure_requeue_limit" integer NOT NULL DEFAULT '3'`,
    );
    await queryRunner.query(
      `ALTER TABLE "workloads" ADD "infrastructure_requeues" integer NOT NULL DEFAULT '0'`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workloads" DROP COLUMN "infrastructure_requeues"`);
    await queryRunner.query(`ALTER TABLE "programs" DROP COLUMN "infrastructure_requeue_limit"`);
  }
}
