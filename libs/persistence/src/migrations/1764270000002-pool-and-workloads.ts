import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The GPU pool (sites, clusters, node pools, nodes), scheduling partitions, workloads and placements. */
export class PoolAndWorkloads1764270000002 implements MigrationInterface {
  name = 'PoolAndWorkloads1764270000002';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "sites" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "code" text NOT NULL, "name" text NOT NULL, "provider" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_4f5eccb1dfde10c9170502595a7" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_sites_code" ON "sites"  ("code")`);
    await queryRunner.query(
      `CREATE TABLE "clusters" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text NOT NULL, "site_id" uuid NOT NULL, "adapter" text NOT NULL DEFAULT 'simulator', "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_56c8e201f375e1e961dcdd6831c" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_clusters_name" ON "clusters"  ("name")`);
    await queryRunner.query(
      `CREATE TABLE "node_pools" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "cluster_id" uuid NOT NULL, "gpu_model" text NOT NULL, "gpus_per_node" integer NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_e14bd1e43efbb63e87cd5cf84f4" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "nodes" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "node_pool_id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "gpu_model" text NOT NULL, "name" text NOT NULL, "interconnect_domain" text NOT NULL, "gpus_total" integer NOT NULL, "gpus_allocated" integer NOT NULL DEFAULT '0', "state" text NOT NULL DEFAULT 'up', "state_reason" text, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "ck_nodes_gpus_allocated" CHECK (gpus_allocated >= 0 AND gpus_allocated <= gpus_total), CONSTRAINT "PK_682d6427523a0fa43d062ea03ee" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_nodes_cluster_name" ON "nodes"  ("cluster_id", "name")`);
    await queryRunner.query(`CREATE INDEX "ix_nodes_model_state" ON "nodes"  ("gpu_model", "state")`);
    await queryRunner.query(
      `CREATE TABLE "scheduling_partitions" ("gpu_model" text NOT NULL, "last_cycle_at" TIMESTAMP(3) WITH TIME ZONE, "cycles" bigint NOT NULL DEFAULT '0', "last_cycle_ms" integer, CONSTRAINT "PK_8d7bc0020ec8a4af7060cd1a6e8" PRIMARY KEY ("gpu_model"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "workloads" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "allocation_id" uuid NOT NULL, "project_id" uuid NOT NULL, "program_id" uuid NOT NULL, "gpu_model" text NOT NULL, "gpus" integer NOT NULL, "walltime_seconds" integer NOT NULL, "name" text NOT NULL, "priority_tier" integer NOT NULL DEFAULT '0', "state" text NOT NULL, "batch_id" uuid, "submitted_by" uuid, "simulated_runtime_seconds" integer, "queued_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "admitted_at" TIMESTAMP(3) WITH TIME ZONE, "dispatched_at" TIMESTAMP(3) WITH TIME ZONE, "started_at" TIMESTAMP(3) WITH TIME ZONE, "ended_at" TIMESTAMP(3) WITH TIME ZONE, "end_reason" text, "borrowed" boolean NOT NULL DEFAULT false, "attempt" integer NOT NULL DEFAULT '0', "held_gpu_seconds" bigint NOT NULL DEFAULT '0', "consumed_gpu_seconds" bigint NOT NULL DEFAULT '0', "wait_reason" text, "wait_detail" text, "queue_position" integer, "estimated_start_at" TIMESTAMP(3) WITH TIME ZONE, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_75092945b64cc22c22a48fb6270" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_workloads_project" ON "workloads"  ("project_id")`);
    await queryRunner.query(
      `CREATE INDEX "ix_workloads_allocation_state" ON "workloads"  ("allocation_id", "state")`,
    );
    await queryRunner.query(`CREATE INDEX "ix_workloads_model_state" ON "workloads"  ("gpu_model", "state")`);
    await queryRunner.query(
      `CREATE TABLE "workload_placements" ("workload_id" uuid NOT NULL, "node_id" uuid NOT NULL, "gpus" integer NOT NULL, CONSTRAINT "PK_12dadd853e19032bde4fe6da022" PRIMARY KEY ("workload_id", "node_id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_workload_placements_node" ON "workload_placements" ("node_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "partition_triggers" ("id" BIGSERIAL NOT NULL, "gpu_model" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_partition_triggers" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_partition_triggers_model" ON "partition_triggers" ("gpu_model", "id") `,
    );
    await queryRunner.query(
      `ALTER TABLE "clusters" ADD CONSTRAINT "FK_0fb5edbbff96be0c62b956c3ed6" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "node_pools" ADD CONSTRAINT "FK_51f8b13183b5ea4d95ad89c20b9" FOREIGN KEY ("cluster_id") REFERENCES "clusters"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "nodes" ADD CONSTRAINT "FK_76878c91a970e6b5fc337628163" FOREIGN KEY ("node_pool_id") REFERENCES "node_pools"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "nodes" ADD CONSTRAINT "FK_1e6db25be4b515e345ed1657180" FOREIGN KEY ("cluster_id") REFERENCES "clusters"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "workloads" ADD CONSTRAINT "FK_2f84dcfdb81ecb1792ea717bab3" FOREIGN KEY ("allocation_id") REFERENCES "allocations"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "workloads" ADD CONSTRAINT "FK_a6643b81b6a695f9e8fcae2988a" FOREIGN KEY ("submitted_by") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "workload_placements" ADD CONSTRAINT "FK_b398e5c419571cd9b1c05feb57d" FOREIGN KEY ("workload_id") REFERENCES "workloads"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "workload_placements" ADD CONSTRAINT "FK_dcaaf5037969ddd53995b30ad71" FOREIGN KEY ("node_id") REFERENCES "nodes"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'workload_placements',
      'workloads',
      'scheduling_partitions',
      'nodes',
      'node_pools',
      'clusters',
      'sites',
    ]) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
