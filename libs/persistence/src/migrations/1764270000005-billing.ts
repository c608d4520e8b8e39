import type { MigrationInterface, QueryRunner } from 'typeorm';

const APPEND_ONLY = [
  'rate_cards',
  'billing_lines',
  'billed_usage',
  'billing_refunds',
  'billing_period_policies',
];

/**
 * Billing: rate cards, programs' pricing policies, billing periods (Asia/Seoul months), the priced
 * lines of closed periods, which usage-record pieces were billed (charged or credited) and where,
 * and settlement exports stored in chunks. A closed period never changes: its lines and markers are
 * append-only and may only be written while the period is closing, and a closed period row is frozen.
 */
export class Billing1764270000005 implements MigrationInterface {
  name = 'Billing1764270000005';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "rate_cards" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "gpu_model" text NOT NULL, "krw_per_gpu_hour" bigint NOT NULL, "effective_from" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "created_by" uuid NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "ck_rate_cards_price_positive" CHECK ("krw_per_gpu_hour" > 0), CONSTRAINT "PK_54c4a5c4872b2339d848e5d9eb5" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_rate_cards_model_effective_from" ON "rate_cards" ("gpu_model", "effective_from")`,
    );
    await queryRunner.query(
      `CREATE TABLE "program_pricing" ("program_id" uuid NOT NULL, "policy" jsonb NOT NULL, "updated_by" uuid NOT NULL, "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_67fd0c5566d9d744890bc99d6e6" PRIMARY KEY ("program_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "billing_periods" ("period" text NOT NULL, "status" text NOT NULL, "starts_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "ends_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "closing_started_at" TIMESTAMP(3) WITH TIME ZONE, "closed_at" TIMESTAMP(3) WITH TIME ZONE, "closed_by" uuid, "line_count" integer, "totals" jsonb, CONSTRAINT "ck_billing_periods_status" CHECK ("status" IN ('open', 'closing', 'closed')), CONSTRAINT "PK_375fe80a1aab43f1d621f2bb58b" PRIMARY KEY ("period"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "billing_lines" ("period" text NOT NULL, "line_no" integer NOT NULL, "charge_class" text NOT NULL DEFAULT '', "correction_reason" text, "original_period" text, "allocation_id" uuid NOT NULL, "project_id" uuid NOT NULL, "project_title" text NOT NULL, "organization_id" uuid NOT NULL, "organization_name" text NOT NULL, "org_type" text NOT NULL, "business_registration_number" text, "tax_id_kind" text, "program_id" uuid NOT NULL, "program_code" text NOT NULL, "program_name" text NOT NULL, "agency_code" text NOT NULL, "gpu_model" text NOT NULL, "krw_per_gpu_hour" bigint NOT NULL, "rate_effective_from" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "charge_start" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "charge_end" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "gpu_seconds" bigint NOT NULL, "list_value" bigint NOT NULL, "discount" bigint NOT NULL, "supply_price" bigint NOT NULL, "subsidy" bigint NOT NULL, "co_pay" bigint NOT NULL, "vat" bigint NOT NULL, "vat_payer" text NOT NULL, "vat_from_organization" bigint NOT NULL, "vat_from_program" bigint NOT NULL, "total_due_org" bigint NOT NULL, "total_program" bigint NOT NULL, "usage_pieces" integer NOT NULL, CONSTRAINT "PK_38d642e3e7c82d950238633c615" PRIMARY KEY ("period", "line_no"))`,
    );
    // Exports and statements of one agency or program read a period's lines in line order.
    await queryRunner.query(
      `CREATE INDEX "ix_billing_lines_agency" ON "billing_lines" ("period", "agency_code", "line_no")`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_billing_lines_program" ON "billing_lines" ("period", "program_id", "line_no")`,
    );
    // No foreign key to usage_records: a close marks millions of pieces in one INSERT … SELECT from
    // that table, and usage records are never deleted.
    await queryRunner.query(
      `CREATE TABLE "billed_usage" ("usage_record_id" bigint NOT NULL, "period" text NOT NULL, "kind" text NOT NULL, "billed_in_period" text NOT NULL, CONSTRAINT "ck_billed_usage_kind" CHECK ("kind" IN ('charge', 'credit')), CONSTRAINT "PK_3176bd4aadc3cdab8d190b2c36e" PRIMARY KEY ("usage_record_id", "period", "kind"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "billing_refunds" ("workload_id" uuid NOT NULL, "attempt" integer NOT NULL, "processed_in_period" text NOT NULL, "credited_gpu_seconds" bigint NOT NULL, CONSTRAINT "PK_4a8aff0ebc312aa040862ccecd9" PRIMARY KEY ("workload_id", "attempt"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "billing_period_policies" ("period" text NOT NULL, "program_id" uuid NOT NULL, "policy" jsonb NOT NULL, CONSTRAINT "PK_eb7be3db0199085f3af9974bb4e" PRIMARY KEY ("period", "program_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "billing_exports" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "period" text NOT NULL, "agency_code" text, "program_id" uuid, "format" text NOT NULL, "status" text NOT NULL, "progress" integer NOT NULL DEFAULT '0', "row_count" integer, "totals" jsonb, "sha256" text, "bytes" bigint, "created_by" uuid NOT NULL, "requested_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "started_at" TIMESTAMP(3) WITH TIME ZONE, "finished_at" TIMESTAMP(3) WITH TIME ZONE, "attempts" integer NOT NULL DEFAULT '0', "error" text, CONSTRAINT "ck_billing_exports_progress" CHECK ("progress" BETWEEN 0 AND 100), CONSTRAINT "ck_billing_exports_status" CHECK ("status" IN ('queued', 'running', 'done', 'failed')), CONSTRAINT "PK_554ac52500f52e20917e30d1b0e" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_billing_exports_requested" ON "billing_exports" ("requested_at", "id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "billing_export_chunks" ("export_id" uuid NOT NULL, "seq" integer NOT NULL, "data" bytea NOT NULL, CONSTRAINT "PK_0c1ad9b20f00f2e57eb852bbb28" PRIMARY KEY ("export_id", "seq"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "rate_cards" ADD CONSTRAINT "FK_596301d3c333a0c456b3a1ae42d" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "program_pricing" ADD CONSTRAINT "FK_67fd0c5566d9d744890bc99d6e6" FOREIGN KEY ("program_id") REFERENCES "programs"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "billing_exports" ADD CONSTRAINT "FK_862fd5a1db68e3739008754f50f" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "billing_export_chunks" ADD CONSTRAINT "FK_d2fd8c83740f27730e52ce78960" FOREIGN KEY ("export_id") REFERENCES "billing_exports"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );

    // gpupool_refuse_change() comes from LedgerGuards1764270000001.
    for (const table of APPEND_ONLY) {
      await queryRunner.query(
        `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON "${table}" FOR EACH ROW EXECUTE FUNCTION gpupool_refuse_change()`,
      );
    }
    // Lines and billed markers are written only by the transaction that closes their period.
    await queryRunner.query(`
      CREATE FUNCTION gpupool_billing_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE refused text;
      BEGIN
        IF TG_TABLE_NAME = 'billing_lines' THEN
          SELECT i.period INTO refused FROM inserted_rows i LEFT JOIN billing_periods p ON p.period = i.period
           WHERE p.status IS DISTINCT FROM 'closing' LIMIT 1;
        ELSE
          SELECT i.billed_in_period INTO refused FROM inserted_rows i
            LEFT JOIN billing_periods p ON p.period = i.billed_in_period
           WHERE p.status IS DISTINCT FROM 'closing' LIMIT 1;
        END IF;
        IF refused IS NOT NULL THEN
          RAISE EXCEPTION 'billing period % is not closing: % refused on %', refused, TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NULL;
      END $$`);
    for (const table of ['billing_lines', 'billed_usage']) {
      await queryRunner.query(
        `CREATE TRIGGER ${table}_insert_guard AFTER INSERT ON "${table}" REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION gpupool_billing_insert_guard()`,
      );
    }
    await queryRunner.query(`
      CREATE FUNCTION gpupool_billing_period_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status = 'closed' THEN
          RAISE EXCEPTION 'billing period % is closed: % refused', OLD.period, TG_OP USING ERRCODE = 'restrict_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN
          RETURN OLD;
        END IF;
        RETURN NEW;
      END $$`);
    await queryRunner.query(
      `CREATE TRIGGER billing_periods_frozen BEFORE UPDATE OR DELETE ON "billing_periods" FOR EACH ROW EXECUTE FUNCTION gpupool_billing_period_frozen()`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER billing_periods_frozen ON "billing_periods"`);
    await queryRunner.query(`DROP FUNCTION gpupool_billing_period_frozen()`);
    for (const table of ['billing_lines', 'billed_usage']) {
      await queryRunner.query(`DROP TRIGGER ${table}_insert_guard ON "${table}"`);
    }
    await queryRunner.query(`DROP FUNCTION gpupool_billing_insert_guard()`);
    for (const table of APPEND_ONLY) {
      await queryRunner.query(`DROP TRIGGER ${table}_append_only ON "${table}"`);
    }
    for (const table of [
      'billing_export_chunks',
      'billing_exports',
      'billing_period_policies',
      'billing_refunds',
      'billed_usage',
      'billing_lines',
      'billing_periods',
      'program_pricing',
      'rate_cards',
    ]) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
