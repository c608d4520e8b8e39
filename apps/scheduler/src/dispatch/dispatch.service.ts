import type { DataSource } from 'typeorm';
import { WorkloadEntity } from '#persistence';
import type { Logger } from '../logger.js';
import type { ClusterAdapter, DispatchPlacement } from '../adapters/cluster-adapter.js';

export type DispatchOutcome =
  | { outcome: 'dispatched'; adapter: string }
  | { outcome: 'skipped'; reason: 'gone' | 'not_admitted' | 'stale_attempt' | 'already_dispatched' };

/**
 * Hands admitted attempts to their cluster's adapter (`dispatch.workload`) and stops attempts
 * (`dispatch.cancel`). The workload row decides, never the job: a redelivered or re-sent job for
 * an attempt that is no longer admitted, or was dispatched already, does nothing.
 *
 * dispatchedAt is set after the adapter accepted the attempt. If the process dies in between, the
 * job runs again and the adapter sees the same attempt twice. The simulator's `run-<id>-<attempt>`
 * job id collapses the two while the first run job is still waiting or running; once it finished
 * (run jobs are removed on completion) the attempt may run twice, and the agent API's attempt
 * fencing plus endWorkload's no-op on terminal rows make the second run's reports change nothing.
 */
export class DispatchService {
  private readonly adapters: Map<string, ClusterAdapter>;

  constructor(
    private readonly dataSource: DataSource,
    adapters: ClusterAdapter[],
    private readonly logger: Logger,
    private readonly defaultAdapter = 'simulator',
  ) {
    this.adapters = new Map(adapters.map((adapter) => [adapter.kind, adapter]));
  }

  async dispatch(workloadId: string, attempt: number): Promise<DispatchOutcome> {
    const workload = await this.dataSource
      .getRepository(WorkloadEntity)
      .findOne({ where: { id: workloadId } });
    if (!workload) return { outcome: 'skipped', reason: 'gone' };
    if (workload.attempt !== attempt) return { outcome: 'skipped', reason: 'stale_attempt' };
    if (workload.dispatchedAt) return { outcome: 'skipped', reason: 'already_dispatched' };
    if (workload.state !== 'admitted') return { outcome: 'skipped', reason: 'not_admitted' };

    const parts = await this.dataSource.query<
      { node_id: string; node_name: string; gpus: number; adapter: string }[]
    >(
      `SELECT p.node_id, n.name AS node_name, p.gpus, c.adapter
       FROM workload_placements p JOIN nodes n ON n.id = p.node_id JOIN clusters c ON c.id = n.cluster_id
       WHERE p.workload_id = $1 ORDER BY n.name`,
      [workloadId],
    );
    const adapter = this.adapterFor(parts[0]?.adapter ?? this.defaultAdapter);
    const placement: DispatchPlacement[] = parts.map((part) => ({
      nodeId: part.node_id,
      nodeName: part.node_name,
      gpus: part.gpus,
    }));
    await adapter.dispatch({
      id: workload.id,
      attempt,
      allocationId: workload.allocationId,
      gpus: workload.gpus,
      gpuModel: workload.gpuModel,
      walltimeSeconds: workload.walltimeSeconds,
      simulatedRuntimeSeconds: workload.simulatedRuntimeSeconds,
      placement,
    });
    // The cluster may already have started it (admitted → running): both count as dispatched.
    await this.dataSource.query(
      `UPDATE workloads SET dispatched_at = clock_timestamp(), updated_at = now()
       WHERE id = $1 AND attempt = $2 AND state IN ('admitted', 'running') AND dispatched_at IS NULL`,
      [workloadId, attempt],
    );
    return { outcome: 'dispatched', adapter: adapter.kind };
  }

  /**
   * Stops an attempt on its cluster. Always forwarded: the adapter ignores attempts it does not
   * run, and the row may already show the end that caused the cancel (placements are gone by then,
   * so the adapter is the cluster's, falling back to the default).
   */
  async cancel(workloadId: string, attempt: number, reason: string): Promise<{ outcome: 'cancel_sent' }> {
    const rows = await this.dataSource.query<{ adapter: string }[]>(
      `SELECT c.adapter FROM workload_placements p JOIN nodes n ON n.id = p.node_id
       JOIN clusters c ON c.id = n.cluster_id WHERE p.workload_id = $1 LIMIT 1`,
      [workloadId],
    );
    const adapter = this.adapterFor(rows[0]?.adapter ?? this.defaultAdapter);
    await adapter.cancel(workloadId, attempt, reason);
    this.logger.debug({ workloadId, attempt, reason, adapter: adapter.kind }, 'cancel sent');
    return { outcome: 'cancel_sent' };
  }

  private adapterFor(kind: string): ClusterAdapter {
    const adapter = this.adapters.get(kind);
    if (!adapter) throw new Error(`No cluster adapter "${kind}" in this scheduler`);
    return adapter;
  }
}
