/**
 * The contract between the trace replayer (engine) and the quality metrics/report. Times are
 * seconds since the start of the replayed trace (the earliest submission is 0).
 */

/** One job of a trace, after the column mapping. */
export interface TraceJob {
  id: string;
  /** Tenant (Philly's virtual cluster): mapped to a project with an allocation in a program. */
  tenant: string;
  submitAt: number;
  durationSeconds: number;
  gpus: number;
}

export type PolicyName = 'fifo' | 'fifo-backfill' | 'gpupool';
export const POLICY_NAMES: readonly PolicyName[] = ['fifo', 'fifo-backfill', 'gpupool'];

export interface JobOutcome {
  id: string;
  tenant: string;
  gpus: number;
  submitAt: number;
  /** First start (a preempted job keeps its first start here; see `preemptions`). */
  startAt: number;
  endAt: number;
  durationSeconds: number;
  preemptions: number;
}

export interface UtilizationSample {
  at: number;
  gpusBusy: number;
  gpusTotal: number;
  /** GPUs free but unusable by the head of the queue at that moment (fragmentation). */
  fragmentedGpus: number;
  queued: number;
}

export interface ReplayResult {
  policy: PolicyName;
  /** Offered load: Σ gpus × duration ÷ (cluster GPUs × trace span). */
  load: number;
  totalGpus: number;
  nodes: number;
  /** Each tenant's entitled share in basis points (proportional to its GPU-hours unless given). */
  entitlementsBasisPoints: Record<string, number>;
  jobs: JobOutcome[];
  /** Sampled at every scheduling cycle (or at least every simulated hour). */
  utilization: UtilizationSample[];
  makespanSeconds: number;
  /** Wall-clock time of the replay itself. */
  wallMs: number;
  cycles: number;
  /**
   * Jobs left out of the replay (not in `jobs`): more GPUs than the cluster has, or a shape no
   * placement can ever give (a multi-node job whose GPUs are not a multiple of the GPUs per node,
   * or larger than an interconnect domain).
   */
  dropped?: { tooLarge: number; unplaceableShape: number };
  /** Total preemptions (Σ JobOutcome.preemptions). */
  preemptions?: number;
}
