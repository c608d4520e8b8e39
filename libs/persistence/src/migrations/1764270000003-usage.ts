import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Usage metering: batches and records (deduplicated on source + external id), per-attempt holds,
 * daily rollups, account balances kept by a trigger on ledger entries, recall proposals and
 * reconciliation reports; programs' exhaustion policy and recall rules.
 */
export class Usage1764270000003 implements MigrationInterface {
  name = 'Usage1764270000003';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "usage_batches" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "token_id" uuid, "record_count" integer NOT NULL, "accepted_count" integer NOT NULL, "received_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "posted_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "PK_677369db0315027639586fc4bd2" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_usage_batches_unposted" ON "usage_batches"  ("received_at") WHERE posted_at IS NULL`,
    );
    await queryRunner.query(
      `CREATE TABLE "usage_records" ("id" BIGSERIAL NOT NULL, "batch_id" uuid NOT NULL, "source" text NOT NULL, "external_id" text NOT NULL, "allocation_id" uuid NOT NULL, "workload_id" uuid, "attempt" integer, "gpu_model" text NOT NULL, "gpus" integer NOT NULL, "started_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "ended_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "gpu_seconds" bigint NOT NULL, "late" boolean NOT NULL DEFAULT false, "received_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_e511cf9f7dc53851569f87467a5" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_usage_records_batch" ON "usage_records"  ("batch_id") `);
    await queryRunner.query(
      `CREATE INDEX "ix_usage_records_allocation_started" ON "usage_records"  ("allocation_id", "started_at") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_usage_records_source_external_id" ON "usage_records"  ("source", "external_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "workload_holds" ("workload_id" uuid NOT NULL, "attempt" integer NOT NULL, "allocation_id" uuid NOT NULL, "held_gpu_seconds" bigint NOT NULL, "remaining_gpu_seconds" bigint NOT NULL, "metered_gpu_seconds" bigint NOT NULL DEFAULT '0', "refunded_gpu_seconds" bigint NOT NULL DEFAULT '0', "admitted_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "started_at" TIMESTAMP(3) WITH TIME ZONE, "ended_at" TIMESTAMP(3) WITH TIME ZONE, "release_after" TIMESTAMP(3) WITH TIME ZONE, "refund_reason" text, CONSTRAINT "PK_58cd7402781f3e6c85d18b51580" PRIMARY KEY ("workload_id", "attempt"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_workload_holds_allocation" ON "workload_holds"  ("allocation_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_workload_holds_release_after" ON "workload_holds"  ("release_after") WHERE remaining_gpu_seconds > 0`,
    );
    await queryRunner.query(
      `CREATE TABLE "usage_daily" ("allocation_id" uuid NOT NULL, "day" date NOT NULL, "project_id" uuid NOT NULL, "program_id" uuid NOT NULL, "gpu_model" text NOT NULL, "gpu_seconds" bigint NOT NULL, "records" integer NOT NULL, CONSTRAINT "PK_27b700fe000c6567c1a7d832ca6" PRIMARY KEY ("allocation_id", "day"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_usage_daily_program_day" ON "usage_daily"  ("program_id", "day") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_usage_daily_project_day" ON "usage_daily"  ("project_id", "day") `,
    );
    await queryRunner.query(
      `CREATE TABLE "account_balances" ("account" text NOT NULL, "balance" bigint NOT NULL, "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b1bce4e82f8f8b734374e0ea949" PRIMARY KEY ("account"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "recall_proposals" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "allocation_id" uuid NOT NULL, "program_id" uuid NOT NULL, "rule_id" text NOT NULL, "gpu_seconds" bigint NOT NULL, "used_basis_points" integer NOT NULL, "reason" text NOT NULL, "status" text NOT NULL, "due_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "decided_by" uuid, "decided_at" TIMESTAMP(3) WITH TIME ZONE, "recalled_gpu_seconds" bigint, CONSTRAINT "PK_c3995365ad7d46bcd95f64e7052" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_recall_proposals_program_status" ON "recall_proposals"  ("program_id") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_recall_proposals_allocation_rule" ON "recall_proposals"  ("allocation_id", "rule_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "reconciliation_reports" ("id" BIGSERIAL NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "duration_ms" integer NOT NULL, "accounts_checked" integer NOT NULL, "account_drifts" integer NOT NULL, "rollups_checked" integer NOT NULL, "rollup_drifts" integer NOT NULL, "usage_drifts" integer NOT NULL, "drifts" jsonb NOT NULL, CONSTRAINT "PK_12ad01f5998711edaac25681bf4" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`ALTER TABLE "programs" ADD "on_exhaustion" text NOT NULL DEFAULT 'finish'`);
    await queryRunner.query(`ALTER TABLE "programs" ADD "recall_rules" jsonb NOT NULL DEFAULT '[]'`);
    await queryRunner.query(`ALTER TABLE "allocations" ADD "status_reason" text`);
    await queryRunner.query(`ALTER TABLE "allocations" ADD "status_changed_at" TIMESTAMP(3) WITH TIME ZONE`);
    await queryRunner.query(
      `ALTER TABLE "usage_records" ADD CONSTRAINT "FK_9df9ba72fa6c96fcfb6fb5b8042" FOREIGN KEY ("batch_id") REFERENCES "usage_batches"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "usage_records" ADD CONSTRAINT "FK_b808dc67c9a762ffdb0022a84cc" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "workload_holds" ADD CONSTRAINT "FK_54bfd10d887501d5cd25ee0bbd1" FOREIGN KEY ("workload_id") REFERENCES "workloads"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "usage_daily" ADD CONSTRAINT "FK_9b347b426d50ffe378c1543e135" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "recall_proposals" ADD CONSTRAINT "FK_4c10c51ddfdb24b8d719a1e99cd" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    // Balances: one upsert per inserting statement (a posting's entries are one INSERT), in account
    // order so concurrent postings lock balance rows in the same order.
    await queryRunner.query(`
      CREATE FUNCTION gpupool_account_balances_apply() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO account_balances (account, balance, updated_at)
        SELECT account, SUM(amount), now() FROM inserted_entries GROUP BY account ORDER BY account
        ON CONFLICT (account) DO UPDATE
          SET balance = account_balances.balance + EXCLUDED.balance, updated_at = now();
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER ledger_entries_account_balances AFTER INSERT ON ledger_entries
      REFERENCING NEW TABLE AS inserted_entries
      FOR EACH STATEMENT EXECUTE FUNCTION gpupool_account_balances_apply()`);
    await queryRunner.query(
      `INSERT INTO account_balances (account, balance) SELECT account, SUM(amount) FROM ledger_entries GROUP BY account`,
    );
    // Holds of attempts admitted before this migration.
    await queryRunner.query(
      `INSERT INTO workload_holds (workload_id, attempt, allocation_id, held_gpu_seconds, remaining_gpu_seconds, admitted_at, started_at)
       SELECT id, attempt, allocation_id, held_gpu_seconds, held_gpu_seconds, COALESCE(admitted_at, now()), started_at
       FROM workloads WHERE state IN ('admitted', 'running') AND held_gpu_seconds > 0`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER ledger_entries_account_balances ON ledger_entries`);
    await queryRunner.query(`DROP FUNCTION gpupool_account_balances_apply()`);
    await queryRunner.query(`ALTER TABLE "allocations" DROP COLUMN "status_changed_at"`);
    await queryRunner.query(`ALTER TABLE "allocations" DROP COLUMN "status_reason"`);
    await queryRunner.query(`ALTER TABLE "programs" DROP COLUMN "recall_rules"`);
    await queryRunner.query(`ALTER TABLE "programs" DROP COLUMN "on_exhaustion"`);
    for (const table of [
      'reconciliation_reports',
      'recall_proposals',
      'account_balances',
      'usage_daily',
      'workload_holds',
      'usage_records',
      'usage_batches',
    ]) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
