/** Which GPUs of which node an attempt runs on, as the scheduler placed it. */
export interface DispatchPlacement {
  nodeId: string;
  nodeName: string;
  gpus: number;
}

/** What a cluster needs to run one admission attempt of a workload. */
export interface DispatchRequest {
  id: string;
  /** Admission attempt: a preempted workload runs again as attempt + 1; reports carry it back. */
  attempt: number;
  /** The allocation its usage is metered against (usage records name it). */
  allocationId: string;
  gpus: number;
  gpuModel: string;
  walltimeSeconds: number;
  /** Simulation only: how long the simulated cluster runs it (null: the walltime). */
  simulatedRuntimeSeconds: number | null;
  placement: DispatchPlacement[];
}

/**
 * The port between the scheduler and a cluster. The simulator (apps/simulator, reached through the
 * `cluster-simulator` queue) is the default; Slurm (slurmrestd) and Kubernetes (Jobs / Kueue)
 * adapters come later behind this same port, chosen per cluster by `clusters.adapter`.
 *
 * Delivery is at least once: an adapter must accept the same (workload, attempt) twice and run it
 * once, and a cancel of an attempt that is not running (finished, never started, unknown) is a no-op.
 * Start, end and usage come back through the cluster agent API, not through this port.
 */
export abstract class ClusterAdapter {
  /** The `clusters.adapter` value this adapter serves. */
  abstract readonly kind: string;
  abstract dispatch(workload: DispatchRequest): Promise<void>;
  abstract cancel(workloadId: string, attempt: number, reason: string): Promise<void>;
}

/** The DI token of the scheduler's cluster adapters (a `ClusterAdapter[]`, one per `kind`). */
export const CLUSTER_ADAPTERS = Symbol('CLUSTER_ADAPTERS');
