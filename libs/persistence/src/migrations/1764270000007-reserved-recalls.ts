import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Recall proposals for reserved allocations (issue 7): a program's use-it-or-lose-it rule releases K
 * whole servers early instead of taking GPU-seconds. `servers` is K, `servers_held` the servers the
 * reservation held when the rule was evaluated (K = servers_held means the rule recalls every server),
 * `released_servers` what the confirmation released. All three stay null on budget proposals.
 */
export class ReservedRecalls1764270000007 implements MigrationInterface {
  name = 'ReservedRecalls1764270000007';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "recall_proposals" ADD "servers" integer`);
    await queryRunner.query(`ALTER TABLE "recall_proposals" ADD "servers_held" integer`);
    await queryRunner.query(`ALTER TABLE "recall_proposals" ADD "released_servers" integer`);
    await queryRunner.query(
      `ALTER TABLE "recall_proposals" ADD CONSTRAINT "ck_recall_proposals_servers" CHECK ("servers" IS NULL OR ("servers" > 0 AND "servers_held" >= "servers"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "recall_proposals" DROP CONSTRAINT "ck_recall_proposals_servers"`);
    for (const column of ['released_servers', 'servers_held', 'servers']) {
      await queryRunner.query(`ALTER TABLE "recall_proposals" DROP COLUMN "${column}"`);
    }
  }
}
