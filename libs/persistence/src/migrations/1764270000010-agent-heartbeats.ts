import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Cluster agent heartbeats (issue 13 item 7): which clusters have an agent that reports in
 * (`cluster_agents`), and when it last confirmed each attempt it runs (`run_confirmations`). A
 * watched cluster's attempt that goes unconfirmed past AGENT_HEARTBEAT_TIMEOUT_MS is declared lost.
 */
export class AgentHeartbeats1764270000010 implements MigrationInterface {
  name = 'AgentHeartbeats1764270000010';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "cluster_agents" ("cluster_id" uuid NOT NULL, "seen_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "agent_started_at" TIMESTAMP(3) WITH TIME ZONE, "resynced_at" TIMESTAMP(3) WITH TIME ZONE, "runs" integer NOT NULL, "agent" text, CONSTRAINT "PK_76c35db5a80bf3af29c61fb877b" PRIMARY KEY ("cluster_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "run_confirmations" ("workload_id" uuid NOT NULL, "attempt" integer NOT NULL, "confirmed_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_b24b5e83f1e634b71349d337031" PRIMARY KEY ("workload_id"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "cluster_agents" ADD CONSTRAINT "FK_76c35db5a80bf3af29c61fb877b" FOREIGN KEY ("cluster_id") REFERENCES "clusters"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "run_confirmations" ADD CONSTRAINT "FK_b24b5e83f1e634b71349d337031" FOREIGN KEY ("workload_id") REFERENCES "workloads"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "run_confirmations"`);
    await queryRunner.query(`DROP TABLE "cluster_agents"`);
  }
}
