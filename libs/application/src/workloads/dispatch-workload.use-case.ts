import { Inject, Injectable } from '@nestjs/common';
import { WorkloadPlacementRepository, WorkloadRepository } from '#persistence';
import { CLUSTER_ADAPTERS, type ClusterAdapter } from './cluster-adapter.js';

export type DispatchOutcome =
  | { outcome: 'dispatched'; adapter: string }
  | { outcome: 'skipped'; reason: 'gone' | 'not_admitted' | 'stale_attempt' | 'already_dispatched' };

/** Clusters with no adapter named fall back to this one. */
export const DEFAULT_CLUSTER_ADAPTER = 'simulator';

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
 * No transaction and no lock: one guarded UPDATE marks the dispatch.
 */
@Injectable()
export class DispatchWorkloadUseCase {
  private readonly adapters: Map<string, ClusterAdapter>;

  constructor(
    private readonly workloads: WorkloadRepository,
    private readonly placements: WorkloadPlacementRepository,
    @Inject(CLUSTER_ADAPTERS) adapters: ClusterAdapter[],
  ) {
    this.adapters = new Map(adapters.map((adapter) => [adapter.kind, adapter]));
  }

  async dispatch(workloadId: string, attempt: number): Promise<DispatchOutcome> {
    const workload = await this.workloads.findById(workloadId);
    if (!workload) return { outcome: 'skipped', reason: 'gone' };
    if (workload.attempt !== attempt) return { outcome: 'skipped', reason: 'stale_attempt' };
    if (workload.dispatchedAt) return { outcome: 'skipped', reason: 'already_dispatched' };
    if (workload.state !== 'admitted') return { outcome: 'skipped', reason: 'not_admitted' };

    const parts = await this.placements.dispatchParts(workloadId);
    const adapter = this.adapterFor(parts[0]?.adapter ?? DEFAULT_CLUSTER_ADAPTER);
    await adapter.dispatch({
      id: workload.id,
      attempt,
      allocationId: workload.allocationId,
      gpus: workload.gpus,
      gpuModel: workload.gpuModel,
      walltimeSeconds: workload.walltimeSeconds,
      simulatedRuntimeSeconds: workload.simulatedRuntimeSeconds,
      placement: parts.map((part) => ({ nodeId: part.nodeId, nodeName: part.nodeName, gpus: part.gpus })),
    });
    await this.workloads.markDispatched(workloadId, attempt);
    return { outcome: 'dispatched', adapter: adapter.kind };
  }

  /**
   * Stops an attempt on its cluster. Always forwarded: the adapter ignores attempts it does not
   * run, and the row may already show the end that caused the cancel (placements are gone by then,
   * so the adapter is the cluster's, falling back to the default). Returns the adapter's kind.
   */
  async cancel(workloadId: string, attempt: number, reason: string): Promise<string> {
    const adapter = this.adapterFor((await this.placements.adapterOf(workloadId)) ?? DEFAULT_CLUSTER_ADAPTER);
    await adapter.cancel(workloadId, attempt, reason);
    return adapter.kind;
  }

  private adapterFor(kind: string): ClusterAdapter {
    const adapter = this.adapters.get(kind);
    if (!adapter) throw new Error(`No cluster adapter "${kind}" in this scheduler`);
    return adapter;
  }
}
