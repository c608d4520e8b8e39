/**
 * Scheduling-quality metrics of one replay (one policy at one load). Pure: a function of the
 * `ReplayResult` alone — no clock, no I/O, no randomness — so the same replay gives the same numbers.
 *
 * Definitions (times in seconds, as in types.ts):
 * - Percentiles are nearest-rank: for n sorted values and p in (0, 100], the value at 1-based rank
 *   ⌈p/100 × n⌉ (p = 0 → the smallest). Always an observed value, never interpolated. Empty → null.
 * - utilization: busy GPU-seconds ÷ (totalGpus × makespan), busy GPU-seconds integrated from the
 *   utilization samples as a step function (sample i's `gpusBusy` holds from its `at` until the
 *   next sample's `at`, the last one until the makespan; 0 before the first sample). This is what
 *   the cluster actually had busy, including work lost to preemption. `usefulUtilization` is the
 *   same ratio from the jobs instead (Σ gpus × durationSeconds): the gap between the two is
 *   preempted work redone (or samples too coarse to see every change).
 * - queueing delay = startAt − submitAt (first start). By size class: 1 GPU, 2–8, >8.
 * - job completion time (JCT) = endAt − submitAt.
 * - bounded slowdown = max(1, (endAt − submitAt) ÷ max(durationSeconds, 10 s)), averaged over jobs
 *   — i.e. (wait + run) ÷ max(run, τ), τ = 10 s; a preempted job's time off the GPUs counts as wait.
 * - Jain's fairness index J = (Σx)² ÷ (n × Σx²) over tenants with a positive entitlement, where
 *   x = the tenant's used GPU-seconds (Σ gpus × durationSeconds) ÷ its entitled share. 1 = usage
 *   exactly proportional to entitlement; 1/n = one tenant took everything. Tenants with jobs but no
 *   entitlement are left out and listed in `tenantsWithoutEntitlement`.
 *   Caveat: when every job completes and entitlements are proportional to each tenant's GPU-hours
 *   in the trace (the default), the whole-run index is ≈ 1 for every policy by construction. So
 *   `jainWindowed` is reported too: the mean, over fixed windows (default one day), of J among the
 *   tenants active in the window (a job waiting or running in it), each job's GPU-seconds spread
 *   evenly over [startAt, endAt). Windows where no active tenant used any GPU are skipped.
 *   A tenant whose demand is below its share lowers J there: it is a usage-vs-entitlement index,
 *   not a demand-capped one.
 * - starvation: the longest queueing delay and its job (ties → the smaller id).
 * - fragmentation: fragmentedGpus ÷ totalGpus per sample; mean over samples (unweighted) and max.
 * - preemptions: Σ job.preemptions.
 * Jobs whose start or end is not a finite number are counted in `unfinished` and left out of every
 * job metric (the contract says every job completes; this only keeps a broken replay visible).
 */
import type { JobOutcome, PolicyName, ReplayResult, UtilizationSample } from './types.js';

export type SizeClass = '1' | '2-8' | '>8';
export const SIZE_CLASSES: readonly SizeClass[] = ['1', '2-8', '>8'];

/** The bound τ of bounded slowdown. */
export const SLOWDOWN_BOUND_SECONDS = 10;
export const DEFAULT_FAIRNESS_WINDOW_SECONDS = 86_400;

export interface DelayPercentiles {
  jobs: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface QualityMetrics {
  policy: PolicyName;
  load: number;
  totalGpus: number;
  jobs: number;
  unfinished: number;
  makespanSeconds: number;
  /** Step-function integral of the samples ÷ (totalGpus × makespan). */
  utilization: number;
  /** Σ gpus × durationSeconds ÷ (totalGpus × makespan). */
  usefulUtilization: number;
  queueingDelaySeconds: DelayPercentiles & { mean: number | null };
  queueingDelayBySizeSeconds: Record<SizeClass, DelayPercentiles>;
  completionTimeSeconds: { mean: number | null; p50: number | null; p99: number | null };
  boundedSlowdownMean: number | null;
  jainFairness: number | null;
  jainWindowed: { windowSeconds: number; windows: number; mean: number | null; min: number | null };
  tenantsWithoutEntitlement: string[];
  starvation: { longestWaitSeconds: number; jobId: string; tenant: string; gpus: number } | null;
  fragmentation: { mean: number; max: number };
  preemptions: number;
}

export interface MetricsOptions {
  /** Window of `jainWindowed` (default one day). */
  fairnessWindowSeconds?: number;
}

/** Nearest-rank percentile of ascending `sorted` (see the module comment); null when empty. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? null;
}

/** J = (Σx)² ÷ (n × Σx²); null for no values or all zero. */
export function jainIndex(values: readonly number[]): number | null {
  let sum = 0;
  let squares = 0;
  for (const x of values) {
    sum += x;
    squares += x * x;
  }
  if (values.length === 0 || squares === 0) return null;
  return (sum * sum) / (values.length * squares);
}

export function sizeClass(gpus: number): SizeClass {
  if (gpus <= 1) return '1';
  return gpus <= 8 ? '2-8' : '>8';
}

function ascending(values: number[]): number[] {
  return values.sort((a, b) => a - b);
}

function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

function percentiles(sorted: readonly number[]): DelayPercentiles {
  return {
    jobs: sorted.length,
    p50: nearestRank(sorted, 50),
    p95: nearestRank(sorted, 95),
    p99: nearestRank(sorted, 99),
  };
}

/** ∫ gpusBusy dt over [0, end], the samples as a step function (0 before the first one). */
export function busyGpuSeconds(samples: readonly UtilizationSample[], end: number): number {
  let total = 0;
  for (let i = 0; i < samples.length; i += 1) {
    const sample = samples[i];
    const from = Math.max(0, sample.at);
    const to = Math.min(end, samples[i + 1]?.at ?? end);
    if (to > from) total += sample.gpusBusy * (to - from);
  }
  return total;
}

/**
 * Utilization over time for charts: `points` equal buckets over [0, end], each the time-weighted
 * mean of gpusBusy ÷ totalGpus in the bucket (the step function averaged, so the chart's mean is
 * the utilization). `t` is the bucket's middle.
 */
export function utilizationSeries(
  samples: readonly UtilizationSample[],
  totalGpus: number,
  end: number,
  points = 500,
): { t: number; utilization: number }[] {
  if (!(end > 0) || !(totalGpus > 0) || points < 1) return [];
  const width = end / points;
  const busy = new Array<number>(points).fill(0);
  for (let i = 0; i < samples.length; i += 1) {
    const sample = samples[i];
    let from = Math.max(0, sample.at);
    const to = Math.min(end, samples[i + 1]?.at ?? end);
    // The bucket index only moves forward, so float rounding at a boundary cannot stall the loop.
    for (let bucket = Math.min(points - 1, Math.floor(from / width)); to > from; bucket += 1) {
      const bucketEnd = bucket >= points - 1 ? to : Math.min(to, (bucket + 1) * width);
      if (bucketEnd > from) busy[Math.min(bucket, points - 1)] += sample.gpusBusy * (bucketEnd - from);
      from = Math.max(from, bucketEnd);
    }
  }
  return busy.map((gpuSeconds, bucket) => ({
    t: (bucket + 0.5) * width,
    utilization: gpuSeconds / (width * totalGpus),
  }));
}

function finished(job: JobOutcome): boolean {
  return Number.isFinite(job.startAt) && Number.isFinite(job.endAt);
}

function windowedJain(
  jobs: readonly JobOutcome[],
  shares: ReadonlyMap<string, number>,
  windowSeconds: number,
  end: number,
): QualityMetrics['jainWindowed'] {
  const windows = Math.max(1, Math.ceil(end / windowSeconds));
  const used = Array.from({ length: windows }, () => new Map<string, number>());
  const clampIndex = (w: number): number => Math.min(windows - 1, Math.max(0, w));
  const clamp = (t: number): number => clampIndex(Math.floor(t / windowSeconds));
  for (const job of jobs) {
    if (!shares.has(job.tenant)) continue;
    // Active (waiting or running) from submission to end: present in those windows even at 0 use.
    // Windows are half-open: a job ending exactly at a boundary is not active in the next window.
    const last = Math.max(clamp(job.submitAt), clampIndex(Math.ceil(job.endAt / windowSeconds) - 1));
    for (let w = clamp(job.submitAt); w <= last; w += 1) {
      const usage = used[w];
      if (!usage.has(job.tenant)) usage.set(job.tenant, 0);
    }
    const span = job.endAt - job.startAt;
    const work = job.gpus * job.durationSeconds;
    if (span <= 0) {
      const usage = used[clamp(job.startAt)];
      usage.set(job.tenant, usage.get(job.tenant)! + work);
      continue;
    }
    for (let w = clamp(job.startAt); w <= last; w += 1) {
      const from = Math.max(job.startAt, w * windowSeconds);
      const to = w === windows - 1 ? job.endAt : Math.min(job.endAt, (w + 1) * windowSeconds);
      if (to <= from) continue;
      const usage = used[w];
      usage.set(job.tenant, usage.get(job.tenant)! + (work * (to - from)) / span);
    }
  }
  const indices: number[] = [];
  for (const usage of used) {
    const values = [...usage].map(([tenant, gpuSeconds]) => gpuSeconds / shares.get(tenant)!);
    const index = jainIndex(values);
    if (index !== null) indices.push(index);
  }
  return {
    windowSeconds,
    windows: indices.length,
    mean: mean(indices),
    min: indices.length === 0 ? null : indices.reduce((min, index) => Math.min(min, index), Infinity),
  };
}

export function computeMetrics(result: ReplayResult, options: MetricsOptions = {}): QualityMetrics {
  const windowSeconds = options.fairnessWindowSeconds ?? DEFAULT_FAIRNESS_WINDOW_SECONDS;
  const jobs = result.jobs.filter(finished);
  const makespan = result.makespanSeconds;
  const capacity = result.totalGpus * makespan;

  const delays: number[] = [];
  const bySize: Record<SizeClass, number[]> = { '1': [], '2-8': [], '>8': [] };
  const completions: number[] = [];
  const slowdowns: number[] = [];
  const usedByTenant = new Map<string, number>();
  let usefulGpuSeconds = 0;
  let preemptions = 0;
  let starved: JobOutcome | null = null;
  for (const job of jobs) {
    const wait = job.startAt - job.submitAt;
    const completion = job.endAt - job.submitAt;
    delays.push(wait);
    bySize[sizeClass(job.gpus)].push(wait);
    completions.push(completion);
    slowdowns.push(Math.max(1, completion / Math.max(job.durationSeconds, SLOWDOWN_BOUND_SECONDS)));
    const work = job.gpus * job.durationSeconds;
    usefulGpuSeconds += work;
    usedByTenant.set(job.tenant, (usedByTenant.get(job.tenant) ?? 0) + work);
    preemptions += job.preemptions;
    if (starved === null) starved = job;
    else {
      const longest = starved.startAt - starved.submitAt;
      if (wait > longest || (wait === longest && job.id < starved.id)) starved = job;
    }
  }
  // Preemptions of jobs left out as unfinished still happened.
  for (const job of result.jobs) if (!finished(job)) preemptions += job.preemptions;

  const shares = new Map<string, number>();
  for (const [tenant, basisPoints] of Object.entries(result.entitlementsBasisPoints)) {
    if (basisPoints > 0) shares.set(tenant, basisPoints / 10_000);
  }
  const tenantsWithoutEntitlement = [...usedByTenant.keys()].filter((tenant) => !shares.has(tenant)).sort();
  const ratios = [...shares].map(([tenant, share]) => (usedByTenant.get(tenant) ?? 0) / share);

  const fractions = result.utilization.map((sample) =>
    result.totalGpus > 0 ? sample.fragmentedGpus / result.totalGpus : 0,
  );
  ascending(delays);
  ascending(completions);
  for (const size of SIZE_CLASSES) ascending(bySize[size]);

  return {
    policy: result.policy,
    load: result.load,
    totalGpus: result.totalGpus,
    jobs: jobs.length,
    unfinished: result.jobs.length - jobs.length,
    makespanSeconds: makespan,
    utilization: capacity > 0 ? busyGpuSeconds(result.utilization, makespan) / capacity : 0,
    usefulUtilization: capacity > 0 ? usefulGpuSeconds / capacity : 0,
    queueingDelaySeconds: { ...percentiles(delays), mean: mean(delays) },
    queueingDelayBySizeSeconds: {
      '1': percentiles(bySize['1']),
      '2-8': percentiles(bySize['2-8']),
      '>8': percentiles(bySize['>8']),
    },
    completionTimeSeconds: {
      mean: mean(completions),
      p50: nearestRank(completions, 50),
      p99: nearestRank(completions, 99),
    },
    boundedSlowdownMean: mean(slowdowns),
    jainFairness: jainIndex(ratios),
    jainWindowed: windowedJain(jobs, shares, windowSeconds, makespan),
    tenantsWithoutEntitlement,
    starvation:
      starved === null
        ? null
        : {
            longestWaitSeconds: starved.startAt - starved.submitAt,
            jobId: starved.id,
            tenant: starved.tenant,
            gpus: starved.gpus,
          },
    fragmentation: {
      mean: mean(fractions) ?? 0,
      max: fractions.reduce((max, fraction) => Math.max(max, fraction), 0),
    },
    preemptions,
  };
}
