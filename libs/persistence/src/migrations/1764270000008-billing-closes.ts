import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Billing closes as jobs (issue 12): `POST /v1/billing/periods/:period/close` records a close here and
 * the scheduler's `billing.close` job runs it. One close per period is queued or running at a time
 * (the partial unique index); the record turns `succeeded` in the closing transaction itself.
 */
export class BillingCloses1764270000008 implements MigrationInterface {
  name = 'BillingCloses1764270000008';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "billing_period_closes" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "period" text NOT NULL, "status" text NOT NULL, "phase" text NOT NULL DEFAULT 'queued', "requested_by" uuid NOT NULL, "request_id" text, "pieces_done" integer NOT NULL DEFAULT '0', "attempts" integer NOT NULL DEFAULT '0', "error_code" text, "error_message" text, "result" jsonb, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "started_at" TIMESTAMP(3) WITH TIME ZONE, "finished_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "ck_billing_period_closes_status" CHECK ("status" IN ('queued', 'running', 'succeeded', 'failed')), CONSTRAINT "PK_billing_period_closes" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "ux_billing_period_closes_active" ON "billing_period_closes" ("period") WHERE "status" IN ('queued', 'running')`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_billing_period_closes_period" ON "billing_period_closes" ("period", "created_at")`,
    );
    await queryRunner.query(
      `ALTER TABLE "billing_period_closes" ADD CONSTRAINT "fk_billing_period_closes_requested_by" FOREIGN KEY ("requested_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "billing_period_closes"`);
  }
}
