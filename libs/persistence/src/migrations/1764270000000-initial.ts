import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Directory, programs, allocation requests, reviews, the grant outbox, allocations, ledger, audit. */
export class Initial1764270000000 implements MigrationInterface {
  name = 'Initial1764270000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "organizations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text NOT NULL, "type" text NOT NULL, "region" text NOT NULL, "capital_area" boolean NOT NULL, "tax_id_kind" text, "tax_id" text, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6b031fcd0863e3f6b44230163f9" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_organizations_tax_id" ON "organizations"  ("tax_id") WHERE tax_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "email" text NOT NULL, "name" text NOT NULL, "password_hash" text, "organization_id" uuid, "roles" text array NOT NULL DEFAULT '{}', "agency_code" text, "active" boolean NOT NULL DEFAULT true, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_users_email" ON "users"  ("email")`);
    await queryRunner.query(
      `CREATE TABLE "api_tokens" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text NOT NULL, "token_hash" text NOT NULL, "token_prefix" text NOT NULL, "scopes" text array NOT NULL, "created_by" uuid NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "revoked_at" TIMESTAMP WITH TIME ZONE, "last_used_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_c587455266b5fa8dace7194caac" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_api_tokens_hash" ON "api_tokens"  ("token_hash")`);
    await queryRunner.query(
      `CREATE TABLE "projects" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "title" text NOT NULL, "organization_id" uuid NOT NULL, "pi_user_id" uuid NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6271df0a7aed1d6c0691ce6ac50" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "project_members" ("project_id" uuid NOT NULL, "user_id" uuid NOT NULL, "role" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b3f491d3a3f986106d281d8eb4b" PRIMARY KEY ("project_id", "user_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "agencies" ("code" text NOT NULL, "name" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6acd8cc6374916c08b4d7f060c8" PRIMARY KEY ("code"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "programs" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "code" text NOT NULL, "name" text NOT NULL, "agency_code" text NOT NULL, "fiscal_year" integer NOT NULL, "starts_at" TIMESTAMP WITH TIME ZONE NOT NULL, "ends_at" TIMESTAMP WITH TIME ZONE NOT NULL, "eligible_organization_types" text array NOT NULL, "tracks" jsonb NOT NULL, "sector_targets" jsonb NOT NULL, "rubric" jsonb NOT NULL, "subsidy_rates" jsonb NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d43c664bcaafc0e8a06dfd34e05" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_programs_code" ON "programs"  ("code")`);
    await queryRunner.query(
      `CREATE TABLE "program_budgets" ("program_id" uuid NOT NULL, "gpu_model" text NOT NULL, "budget_gpu_seconds" bigint NOT NULL, CONSTRAINT "PK_a668e6dcc888ec2070e0169f209" PRIMARY KEY ("program_id", "gpu_model"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "program_reviewers" ("program_id" uuid NOT NULL, "user_id" uuid NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_8ff97a3a2aec04613093164ee77" PRIMARY KEY ("program_id", "user_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "allocation_requests" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "program_id" uuid NOT NULL, "status" text NOT NULL, "starts_at" TIMESTAMP WITH TIME ZONE NOT NULL, "ends_at" TIMESTAMP WITH TIME ZONE NOT NULL, "justification" text NOT NULL, "created_by" uuid NOT NULL, "submitted_at" TIMESTAMP WITH TIME ZONE, "decided_at" TIMESTAMP WITH TIME ZONE, "decided_by" uuid, "decision_note" text, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_16d035a0bbc65fde42f11dd6b27" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_allocation_requests_project" ON "allocation_requests"  ("project_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_allocation_requests_program_status" ON "allocation_requests"  ("program_id", "status")`,
    );
    await queryRunner.query(
      `CREATE TABLE "allocation_request_lines" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "request_id" uuid NOT NULL, "line_no" integer NOT NULL, "gpu_model" text NOT NULL, "kind" text NOT NULL, "gpu_seconds" bigint NOT NULL, "max_concurrent_gpus" integer NOT NULL, "granted_gpu_seconds" bigint, "granted_max_concurrent_gpus" integer, CONSTRAINT "PK_f2dfe3e39a4a9bd118a888f3b79" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_allocation_request_lines_model" ON "allocation_request_lines"  ("request_id", "gpu_model")`,
    );
    await queryRunner.query(
      `CREATE TABLE "reviews" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "request_id" uuid NOT NULL, "reviewer_id" uuid NOT NULL, "scores" jsonb NOT NULL, "weighted_score_milli" integer NOT NULL, "comment" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_231ae565c273ee700b283f15c1d" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_reviews_request_reviewer" ON "reviews"  ("request_id", "reviewer_id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "conflict_declarations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "request_id" uuid NOT NULL, "reviewer_id" uuid NOT NULL, "reason" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_54773c4de5f8dd35925794876a6" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_conflict_declarations_request_reviewer" ON "conflict_declarations"  ("request_id", "reviewer_id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "grant_intents" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "request_id" uuid NOT NULL, "status" text NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "enqueued_at" TIMESTAMP WITH TIME ZONE, "completed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_100506de3ef1d38bbf12979bf6e" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_grant_intents_request" ON "grant_intents"  ("request_id")`,
    );
    await queryRunner.query(`CREATE INDEX "ix_grant_intents_status" ON "grant_intents"  ("status")`);
    await queryRunner.query(
      `CREATE TABLE "allocations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "request_id" uuid NOT NULL, "request_line_id" uuid NOT NULL, "project_id" uuid NOT NULL, "program_id" uuid NOT NULL, "gpu_model" text NOT NULL, "kind" text NOT NULL, "max_concurrent_gpus" integer NOT NULL, "starts_at" TIMESTAMP WITH TIME ZONE NOT NULL, "ends_at" TIMESTAMP WITH TIME ZONE NOT NULL, "status" text NOT NULL, "priority_tier" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_ca63099fc248466264af0fa6f1f" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_allocations_request_line" ON "allocations"  ("request_line_id")`,
    );
    await queryRunner.query(`CREATE INDEX "ix_allocations_project" ON "allocations"  ("project_id")`);
    await queryRunner.query(
      `CREATE TABLE "audit_events" ("id" BIGSERIAL NOT NULL, "actor_id" uuid, "actor_kind" text NOT NULL, "action" text NOT NULL, "subject_type" text NOT NULL, "subject_id" text NOT NULL, "before" jsonb, "after" jsonb, "request_id" text, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_910f64d901a5c3e9878f0d4a407" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_audit_events_subject" ON "audit_events"  ("subject_type", "subject_id", "id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "idempotency_keys" ("principal" text NOT NULL, "key" text NOT NULL, "method" text NOT NULL, "path" text NOT NULL, "request_hash" text NOT NULL, "status_code" integer NOT NULL, "response_body" jsonb NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_574edfb9ce98100b66a0a2e0f34" PRIMARY KEY ("principal", "key"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "ledger_transactions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "kind" text NOT NULL, "idempotency_key" text NOT NULL, "memo" text, "request_id" text, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_633d103c9e415d615aacf9b1929" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_ledger_transactions_idempotency_key" ON "ledger_transactions"  ("idempotency_key")`,
    );
    await queryRunner.query(
      `CREATE TABLE "ledger_entries" ("id" BIGSERIAL NOT NULL, "transaction_id" uuid NOT NULL, "account" text NOT NULL, "amount" bigint NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6efcb84411d3f08b08450ae75d5" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_ledger_entries_transaction" ON "ledger_entries"  ("transaction_id")`,
    );
    await queryRunner.query(`CREATE INDEX "ix_ledger_entries_account" ON "ledger_entries"  ("account")`);
    await queryRunner.query(
      `ALTER TABLE "users" ADD CONSTRAINT "FK_21a659804ed7bf61eb91688dea7" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "FK_d895512b38605026594ab6266b9" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "projects" ADD CONSTRAINT "FK_585c8ce06628c70b70100bfb842" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "projects" ADD CONSTRAINT "FK_3d8d60c9197b3d7c41ccd83b42f" FOREIGN KEY ("pi_user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "project_members" ADD CONSTRAINT "FK_b5729113570c20c7e214cf3f58d" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "project_members" ADD CONSTRAINT "FK_e89aae80e010c2faa72e6a49ce8" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "programs" ADD CONSTRAINT "FK_4e80a752444c2dfc31c40c0ca23" FOREIGN KEY ("agency_code") REFERENCES "agencies"("code") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "program_budgets" ADD CONSTRAINT "FK_9a1b9f89ba6e32333ae0ad98b76" FOREIGN KEY ("program_id") REFERENCES "programs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "program_reviewers" ADD CONSTRAINT "FK_bfd697eb47fb4bcca1e7fe287d8" FOREIGN KEY ("program_id") REFERENCES "programs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "program_reviewers" ADD CONSTRAINT "FK_9d8ea5f7559a7a56b53abe6caac" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocation_requests" ADD CONSTRAINT "FK_08d855c573c922442f8d8e74994" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocation_requests" ADD CONSTRAINT "FK_531922a8b815957f53bdf064f3e" FOREIGN KEY ("program_id") REFERENCES "programs"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocation_requests" ADD CONSTRAINT "FK_4ff2aa7afd12345e202843168c4" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocation_request_lines" ADD CONSTRAINT "FK_707d54e33ff21f610bd0954b2fe" FOREIGN KEY ("request_id") REFERENCES "allocation_requests"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "reviews" ADD CONSTRAINT "FK_6ea6d2328e7d32aa0b0970d8d96" FOREIGN KEY ("request_id") REFERENCES "allocation_requests"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "reviews" ADD CONSTRAINT "FK_92e950a2513a79bb3fab273c92e" FOREIGN KEY ("reviewer_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "conflict_declarations" ADD CONSTRAINT "FK_8ad79e6023a93a7e925ad25e742" FOREIGN KEY ("request_id") REFERENCES "allocation_requests"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "conflict_declarations" ADD CONSTRAINT "FK_8fe2a99550a26a9d44fbd9b80a9" FOREIGN KEY ("reviewer_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "grant_intents" ADD CONSTRAINT "FK_0b66de5b696e547b04399ceccd5" FOREIGN KEY ("request_id") REFERENCES "allocation_requests"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocations" ADD CONSTRAINT "FK_1e19ee35cd48873e2a9520a55e6" FOREIGN KEY ("request_id") REFERENCES "allocation_requests"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocations" ADD CONSTRAINT "FK_4ffe30728fa0685c33c1f9c8f5b" FOREIGN KEY ("request_line_id") REFERENCES "allocation_request_lines"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocations" ADD CONSTRAINT "FK_1e9073e8826a16fd21cbbece599" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "allocations" ADD CONSTRAINT "FK_447b3abcb8ba3834ada482fd1d1" FOREIGN KEY ("program_id") REFERENCES "programs"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "ledger_entries" ADD CONSTRAINT "FK_b26c5ef5853fd6e0a8680427f60" FOREIGN KEY ("transaction_id") REFERENCES "ledger_transactions"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'idempotency_keys',
      'audit_events',
      'ledger_entries',
      'ledger_transactions',
      'allocations',
      'grant_intents',
      'conflict_declarations',
      'reviews',
      'allocation_request_lines',
      'allocation_requests',
      'program_reviewers',
      'program_budgets',
      'programs',
      'agencies',
      'project_members',
      'projects',
      'api_tokens',
      'users',
      'organizations',
    ]) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
