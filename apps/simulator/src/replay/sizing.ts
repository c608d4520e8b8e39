import type { TraceJob } from './types.js';

/** Submission span of a trace: last submitAt − first submitAt (at least 1 s). */
export function traceSpanSeconds(jobs: readonly TraceJob[]): number {
  if (jobs.length === 0) return 1;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const j of jobs) {
    if (j.submitAt < min) min = j.submitAt;
    if (j.submitAt > max) max = j.submitAt;
  }
  return Math.max(1, max - min);
}

/** Σ gpus × duration over the trace (GPU-seconds). */
export function totalGpuSeconds(jobs: readonly TraceJob[]): number {
  let total = 0;
  for (const j of jobs) total += j.gpus * j.durationSeconds;
  return total;
}

/** Offered load of a trace on `totalGpus`: Σ gpus × duration ÷ (totalGpus × span). */
export function offeredLoad(jobs: readonly TraceJob[], totalGpus: number): number {
  return totalGpuSeconds(jobs) / (totalGpus * traceSpanSeconds(jobs));
}

/**
 * Nodes for an offered load: ceil(Σ gpus × duration ÷ (load × span × gpusPerNode)), span = the
 * submission span; at least ceil(largest job ÷ gpusPerNode) so every job fits, and at least 1.
 */
export function nodesForLoad(jobs: readonly TraceJob[], load: number, gpusPerNode: number): number {
  if (!(load > 0)) throw new Error(`load must be positive, got ${load}`);
  let largest = 0;
  for (const j of jobs) if (j.gpus > largest) largest = j.gpus;
  const byLoad = Math.ceil(totalGpuSeconds(jobs) / (load * traceSpanSeconds(jobs) * gpusPerNode));
  return Math.max(1, byLoad, Math.ceil(largest / gpusPerNode));
}

/**
 * Time-shifted copies of a trace as separate tenants, to fill a large pool (e.g. 50,000 GPUs):
 * copy k (0-based) has tenants `<tenant>#<k>`, ids `<id>#<k>` and submissions shifted by
 * floor(k × span ÷ copies), WRAPPED around the span (copy k ≥ 1: (t + shift) mod span) so every copy
 * stays inside the original span and the pool sees a steady multiple of the trace's demand. Copy 0
 * is the trace itself. `copies` defaults to how many traces' average demand fit the pool:
 * max(1, round(totalGpus ÷ (Σ gpus × duration ÷ span))) — so the offered load stays that of the
 * original trace on its average demand. The result is sorted by submitAt, then copy, then the
 * original order.
 */
export function tileForPool(jobs: readonly TraceJob[], totalGpus: number, copies?: number): TraceJob[] {
  const span = traceSpanSeconds(jobs);
  const origin = jobs.reduce((min, j) => Math.min(min, j.submitAt), Number.POSITIVE_INFINITY);
  const averageDemand = totalGpuSeconds(jobs) / span;
  const n = copies ?? Math.max(1, Math.round(totalGpus / Math.max(averageDemand, 1e-9)));
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`copies must be a positive integer, got ${n}`);
  const tiled: { job: TraceJob; copy: number; order: number }[] = [];
  for (let k = 0; k < n; k += 1) {
    const shift = Math.floor((k * span) / n);
    jobs.forEach((j, order) => {
      const submitAt = k === 0 ? j.submitAt : origin + ((j.submitAt - origin + shift) % span);
      tiled.push({
        job: { ...j, id: `${j.id}#${k}`, tenant: `${j.tenant}#${k}`, submitAt },
        copy: k,
        order,
      });
    });
  }
  tiled.sort((a, b) => a.job.submitAt - b.job.submitAt || a.copy - b.copy || a.order - b.order);
  return tiled.map((t) => t.job);
}
