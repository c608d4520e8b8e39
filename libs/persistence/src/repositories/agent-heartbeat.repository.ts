import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ACTIVE_WORKLOAD_STATES } from '#domain';
import type { Tx } from '../transaction.js';
import type { AttemptRef } from './workload.repository.js';

/** An attempt as a cluster agent names it. */
export interface RunRef {
  workloadId: string;
  attempt: number;
}

/** What one heartbeat records for each cluster it covers. */
export interface HeartbeatWrite {
  clusterIds: readonly string[];
  runs: number;
  agent: string | null;
  agentStartedAt: Date | null;
  resync: boolean;
}

/** An attempt's last confirmation by its agent (of its current attempt only). */
export interface RunConfirmation {
  attempt: number;
  confirmedAt: Date;
}

/**
 * Cluster agents' heartbeats (`cluster_agents`) and the confirmations of the runs they list
 * (`run_confirmations`). Heartbeats never lock `workloads` rows: they read them, and write only
 * these two tables, so they cannot take part in the lock order of ends and cycles.
 */
export abstract class AgentHeartbeatRepository {
  /** The ids of the clusters served by the adapter, in id order. */
  abstract clustersOfAdapter(tx: Tx, adapter: string): Promise<string[]>;
  /** Of the ids given, those that name no cluster. */
  abstract unknownClusters(tx: Tx, clusterIds: readonly string[]): Promise<string[]>;
  /** Upserts the clusters' agent rows (in cluster id order) with the database's clock. */
  abstract recordHeartbeat(tx: Tx, heartbeat: HeartbeatWrite): Promise<void>;
  /**
   * Confirms the listed runs that are the current and active attempt of their workload (dispatched
   * or not yet marked so: the agent may list a run before its dispatch is recorded)
   * (upserts run_confirmations in workload id order); returns the listed runs that are not: gpupool
   * does not want them run (ended, another attempt, unknown), so the agent must stop them.
   */
  abstract confirmRuns(tx: Tx, runs: readonly RunRef[]): Promise<RunRef[]>;
  /**
   * The active attempts on the clusters whose start was reported (so an agent had them) and that
   * the list does not name: after the agent restarted, it no longer has them. By partition, then id.
   */
  abstract startedRunsNotListed(
    tx: Tx,
    clusterIds: readonly string[],
    listed: readonly RunRef[],
  ): Promise<AttemptRef[]>;
  /**
   * Dispatched active attempts on watched clusters (with an agent row) that nobody confirmed, started
   * or dispatched within `timeoutMs`: by partition, then id.
   */
  abstract unconfirmedAttempts(timeoutMs: number, limit: number): Promise<AttemptRef[]>;
  /** The confirmations of the workloads' current attempts, read in the caller's transaction. */
  abstract confirmationsOf(tx: Tx, workloadIds: readonly string[]): Promise<Map<string, RunConfirmation>>;
}

@Injectable()
export class TypeormAgentHeartbeatRepository extends AgentHeartbeatRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async clustersOfAdapter(tx: Tx, adapter: string): Promise<string[]> {
    const rows = await tx.query<{ id: string }[]>(`SELECT id FROM clusters WHERE adapter = $1 ORDER BY id`, [
      adapter,
    ]);
    return rows.map((row) => row.id);
  }

  override async unknownClusters(tx: Tx, clusterIds: readonly string[]): Promise<string[]> {
    const rows = await tx.query<{ id: string }[]>(
      `SELECT u.id FROM unnest($1::uuid[]) AS u(id)
        WHERE NOT EXISTS (SELECT 1 FROM clusters c WHERE c.id = u.id) ORDER BY 1`,
      [clusterIds],
    );
    return rows.map((row) => row.id);
  }

  override async recordHeartbeat(tx: Tx, heartbeat: HeartbeatWrite): Promise<void> {
    if (heartbeat.clusterIds.length === 0) return;
    await tx.query(
      `INSERT INTO cluster_agents (cluster_id, seen_at, agent_started_at, resynced_at, runs, agent)
       SELECT u.id, now(), $2, CASE WHEN $3 THEN now() END, $4, $5
         FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS u(id) ORDER BY id) AS u
       ON CONFLICT (cluster_id) DO UPDATE
         SET seen_at = excluded.seen_at,
             agent_started_at = coalesce(excluded.agent_started_at, cluster_agents.agent_started_at),
             resynced_at = coalesce(excluded.resynced_at, cluster_agents.resynced_at),
             runs = excluded.runs,
             agent = coalesce(excluded.agent, cluster_agents.agent)`,
      [heartbeat.clusterIds, heartbeat.agentStartedAt, heartbeat.resync, heartbeat.runs, heartbeat.agent],
    );
  }

  override async confirmRuns(tx: Tx, runs: readonly RunRef[]): Promise<RunRef[]> {
    if (runs.length === 0) return [];
    const rows = await tx.query<{ workload_id: string; attempt: number }[]>(
      `WITH listed AS (
         SELECT DISTINCT l.workload_id, l.attempt FROM unnest($1::uuid[], $2::int[]) AS l(workload_id, attempt)
       ), current AS (
         SELECT l.workload_id, l.attempt FROM listed l
           JOIN workloads w ON w.id = l.workload_id AND w.attempt = l.attempt
          WHERE w.state = ANY($3)
       ), confirmed AS (
         INSERT INTO run_confirmations (workload_id, attempt, confirmed_at)
         SELECT workload_id, attempt, now() FROM current ORDER BY workload_id
         ON CONFLICT (workload_id) DO UPDATE
           SET attempt = excluded.attempt, confirmed_at = excluded.confirmed_at
       )
       SELECT l.workload_id, l.attempt FROM listed l
        WHERE NOT EXISTS (SELECT 1 FROM current c WHERE c.workload_id = l.workload_id AND c.attempt = l.attempt)
        ORDER BY 1, 2`,
      [runs.map((run) => run.workloadId), runs.map((run) => run.attempt), [...ACTIVE_WORKLOAD_STATES]],
    );
    return rows.map((row) => ({ workloadId: row.workload_id, attempt: row.attempt }));
  }

  override async startedRunsNotListed(
    tx: Tx,
    clusterIds: readonly string[],
    listed: readonly RunRef[],
  ): Promise<AttemptRef[]> {
    if (clusterIds.length === 0) return [];
    const rows = await tx.query<{ id: string; attempt: number; gpu_model: string }[]>(
      `SELECT w.id, w.attempt, w.gpu_model FROM workloads w
        WHERE w.state = ANY($2) AND w.started_at IS NOT NULL
          AND EXISTS (SELECT 1 FROM workload_placements p JOIN nodes n ON n.id = p.node_id
                       WHERE p.workload_id = w.id AND n.cluster_id = ANY($1::uuid[]))
          AND NOT EXISTS (SELECT 1 FROM unnest($3::uuid[], $4::int[]) AS l(workload_id, attempt)
                           WHERE l.workload_id = w.id AND l.attempt = w.attempt)
        ORDER BY w.gpu_model, w.id`,
      [
        clusterIds,
        [...ACTIVE_WORKLOAD_STATES],
        listed.map((run) => run.workloadId),
        listed.map((run) => run.attempt),
      ],
    );
    return rows.map((row) => ({ id: row.id, attempt: row.attempt, gpuModel: row.gpu_model }));
  }

  override async unconfirmedAttempts(timeoutMs: number, limit: number): Promise<AttemptRef[]> {
    const rows = await this.dataSource.query<{ id: string; attempt: number; gpu_model: string }[]>(
      `SELECT w.id, w.attempt, w.gpu_model FROM workloads w
         LEFT JOIN run_confirmations rc ON rc.workload_id = w.id AND rc.attempt = w.attempt
        WHERE w.state = ANY($3) AND w.dispatched_at IS NOT NULL
          AND greatest(rc.confirmed_at, w.started_at, w.dispatched_at)
              < now() - $1::int * interval '1 millisecond'
          AND EXISTS (SELECT 1 FROM workload_placements p JOIN nodes n ON n.id = p.node_id
                        JOIN cluster_agents a ON a.cluster_id = n.cluster_id
                       WHERE p.workload_id = w.id)
        ORDER BY w.gpu_model, w.id LIMIT $2`,
      [timeoutMs, limit, [...ACTIVE_WORKLOAD_STATES]],
    );
    return rows.map((row) => ({ id: row.id, attempt: row.attempt, gpuModel: row.gpu_model }));
  }

  override async confirmationsOf(
    tx: Tx,
    workloadIds: readonly string[],
  ): Promise<Map<string, RunConfirmation>> {
    const result = new Map<string, RunConfirmation>();
    if (workloadIds.length === 0) return result;
    const rows = await tx.query<{ workload_id: string; attempt: number; confirmed_at: Date }[]>(
      `SELECT workload_id, attempt, confirmed_at FROM run_confirmations WHERE workload_id = ANY($1::uuid[])`,
      [workloadIds],
    );
    for (const row of rows) {
      result.set(row.workload_id, { attempt: row.attempt, confirmedAt: new Date(row.confirmed_at) });
    }
    return result;
  }
}
