import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notifications (in-app alerts, each fired once: unique dedupe_key), webhook subscriptions, and the
 * webhook outbox: one delivery per notification and subscription, with its retry schedule, and the
 * delivery log of every HTTP attempt.
 */
export class Notifications1764270000004 implements MigrationInterface {
  name = 'Notifications1764270000004';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "notifications" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid, "allocation_id" uuid, "user_id" uuid, "kind" text NOT NULL, "dedupe_key" text NOT NULL, "title" text NOT NULL, "body" text NOT NULL, "data" jsonb NOT NULL DEFAULT '{}', "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "read_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "PK_6a72c3c0f683f6462415e653c3a" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_notifications_user" ON "notifications" ("user_id")`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_notifications_dedupe_key" ON "notifications" ("dedupe_key")`,
    );
    // Newest first per project: the order of GET /v1/notifications.
    await queryRunner.query(
      `CREATE INDEX "ix_notifications_project_created" ON "notifications" ("project_id", "created_at" DESC)`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_subscriptions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid, "url" text NOT NULL, "secret" text NOT NULL, "events" text array NOT NULL DEFAULT '{}', "active" boolean NOT NULL DEFAULT true, "created_by" uuid NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "disabled_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "PK_bf631ae77d39849d599817fb6f4" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhook_subscriptions_project" ON "webhook_subscriptions" ("project_id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_deliveries" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "subscription_id" uuid NOT NULL, "notification_id" uuid NOT NULL, "status" text NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "next_attempt_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "last_status_code" integer, "last_error" text, "delivered_at" TIMESTAMP(3) WITH TIME ZONE, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "ck_webhook_deliveries_status" CHECK ("status" IN ('pending', 'delivered', 'failed')), CONSTRAINT "PK_535dd409947fb6d8fc6dfc0112a" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhook_deliveries_notification" ON "webhook_deliveries" ("notification_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_webhook_deliveries_status_due" ON "webhook_deliveries" ("status", "next_attempt_at")`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_webhook_deliveries_subscription_notification" ON "webhook_deliveries" ("subscription_id", "notification_id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_delivery_attempts" ("id" BIGSERIAL NOT NULL, "delivery_id" uuid NOT NULL, "attempt" integer NOT NULL, "started_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "duration_ms" integer NOT NULL, "status_code" integer, "error" text, "response_snippet" text, CONSTRAINT "PK_59ef9124585b56c18b98548a0c6" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_webhook_delivery_attempts_attempt" ON "webhook_delivery_attempts" ("delivery_id", "attempt")`,
    );
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "FK_95464140d7dc04d7efb0afd6be0" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "FK_e6dca693dff239e607416843dfd" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "FK_9a8a82462cab47c73d25f49261f" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_subscriptions" ADD CONSTRAINT "FK_7536ac8ded802c28bcf5ad713fe" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_subscriptions" ADD CONSTRAINT "FK_14b3f82f583acc3d608ed70c374" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_23eb2b6ae801c52cfb79a556b8a" FOREIGN KEY ("subscription_id") REFERENCES "webhook_subscriptions"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_b595a77db5d4504c875d2905222" FOREIGN KEY ("notification_id") REFERENCES "notifications"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_delivery_attempts" ADD CONSTRAINT "FK_647916c401c0c275df5f00c148f" FOREIGN KEY ("delivery_id") REFERENCES "webhook_deliveries"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'webhook_delivery_attempts',
      'webhook_deliveries',
      'webhook_subscriptions',
      'notifications',
    ]) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
