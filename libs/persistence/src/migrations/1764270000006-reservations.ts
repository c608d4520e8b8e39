import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reserved allocation lines on a capacity calendar (issue 7): reserved request lines (whole servers
 * for a window), the request's sector for the program's sector targets, reserved allocations, their
 * reservations and the nodes they hold, and the planning outbox / waitlist.
 *
 * The exclusion constraint on reservation_nodes makes PostgreSQL refuse a node held by two
 * reservations over overlapping spans; `=` on a uuid inside a GiST index needs btree_gist.
 */
export class Reservations1764270000006 implements MigrationInterface {
  name = 'Reservations1764270000006';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS btree_gist`);

    await queryRunner.query(`ALTER TABLE "allocation_requests" ADD "sector" text`);
    await queryRunner.query(
      `ALTER TABLE "allocation_requests" ADD CONSTRAINT "ck_allocation_requests_sector" CHECK ("sector" IN ('national', 'industry', 'academia'))`,
    );
    await queryRunner.query(`ALTER TABLE "allocation_request_lines" ADD "servers" integer`);
    await queryRunner.query(
      `ALTER TABLE "allocation_request_lines" ADD "starts_at" TIMESTAMP WITH TIME ZONE`,
    );
    await queryRunner.query(`ALTER TABLE "allocation_request_lines" ADD "ends_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(
      `ALTER TABLE "allocation_request_lines" ADD "same_interconnect_domain" boolean NOT NULL DEFAULT false`,
    );
    await queryRunner.query(`ALTER TABLE "allocation_request_lines" ADD "granted_servers" integer`);
    await queryRunner.query(`ALTER TABLE "allocations" ADD "servers" integer`);
    await queryRunner.query(
      `ALTER TABLE "allocations" ADD "same_interconnect_domain" boolean NOT NULL DEFAULT false`,
    );

    await queryRunner.query(
      `CREATE TABLE "reservations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "allocation_id" uuid NOT NULL, "gpu_model" text NOT NULL, "cluster_id" uuid NOT NULL, "starts_at" TIMESTAMP WITH TIME ZONE NOT NULL, "ends_at" TIMESTAMP WITH TIME ZONE NOT NULL, "status" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "ck_reservations_status" CHECK ("status" IN ('placed', 'released')), CONSTRAINT "ck_reservations_window" CHECK ("ends_at" > "starts_at"), CONSTRAINT "PK_da95cef71b617ac35dc5bcda243" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_reservations_allocation" ON "reservations" ("allocation_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_reservations_model_window" ON "reservations" ("gpu_model", "ends_at")`,
    );
    await queryRunner.query(
      `CREATE TABLE "reservation_nodes" ("reservation_id" uuid NOT NULL, "node_id" uuid NOT NULL, "during" tstzrange NOT NULL, CONSTRAINT "ex_reservation_nodes_no_overlap" EXCLUDE USING gist ("node_id" WITH =, "during" WITH &&), CONSTRAINT "PK_6bbd32463756324e939c68e65d4" PRIMARY KEY ("reservation_id", "node_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "reservation_plans" ("allocation_id" uuid NOT NULL, "status" text NOT NULL, "earliest_feasible_start" TIMESTAMP WITH TIME ZONE, "code" text, "reason" text, "attempts" integer NOT NULL DEFAULT '0', "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "ck_reservation_plans_status" CHECK ("status" IN ('pending', 'placed', 'waitlisted')), CONSTRAINT "PK_f70e4cf476a0ca80455ce1df30b" PRIMARY KEY ("allocation_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_reservation_plans_status" ON "reservation_plans" ("status")`);

    await queryRunner.query(
      `ALTER TABLE "reservations" ADD CONSTRAINT "FK_9b596c4e694eca8ceacc52e0237" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "reservations" ADD CONSTRAINT "FK_bd387a545b7c3e5b959607a392c" FOREIGN KEY ("cluster_id") REFERENCES "clusters"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "reservation_nodes" ADD CONSTRAINT "FK_f8c7e4f6b85c0021a08a9baabd1" FOREIGN KEY ("reservation_id") REFERENCES "reservations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "reservation_nodes" ADD CONSTRAINT "FK_9d5f6f2e97e8226cb679b1882b9" FOREIGN KEY ("node_id") REFERENCES "nodes"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "reservation_plans" ADD CONSTRAINT "FK_f70e4cf476a0ca80455ce1df30b" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "reservation_plans"`);
    await queryRunner.query(`DROP TABLE "reservation_nodes"`);
    await queryRunner.query(`DROP TABLE "reservations"`);
    for (const column of ['servers', 'same_interconnect_domain']) {
      await queryRunner.query(`ALTER TABLE "allocations" DROP COLUMN "${column}"`);
    }
    for (const column of ['servers', 'starts_at', 'ends_at', 'same_interconnect_domain', 'granted_servers']) {
      await queryRunner.query(`ALTER TABLE "allocation_request_lines" DROP COLUMN "${column}"`);
    }
    await queryRunner.query(
      `ALTER TABLE "allocation_requests" DROP CONSTRAINT "ck_allocation_requests_sector"`,
    );
    await queryRunner.query(`ALTER TABLE "allocation_requests" DROP COLUMN "sector"`);
  }
}
