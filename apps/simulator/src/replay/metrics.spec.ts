import {
  busyGpuSeconds,
  computeMetrics,
  jainIndex,
  nearestRank,
  sizeClass,
  utilizationSeries,
} from './metrics.js';
import type { JobOutcome, ReplayResult, UtilizationSample } from './types.js';

function job(
  id: string,
  fields: { tenant?: string; gpus?: number; submitAt?: number; startAt: number; duration: number },
  extra: Partial<JobOutcome> = {},
): JobOutcome {
  const submitAt = fields.submitAt ?? 0;
  return {
    id,
    tenant: fields.tenant ?? 'a',
    gpus: fields.gpus ?? 1,
    submitAt,
    startAt: fields.startAt,
    endAt: fields.startAt + fields.duration,
    durationSeconds: fields.duration,
    preemptions: 0,
    ...extra,
  };
}

function sample(at: number, gpusBusy: number, fragmentedGpus = 0, gpusTotal = 4): UtilizationSample {
  return { at, gpusBusy, gpusTotal, fragmentedGpus, queued: 0 };
}

function result(fields: Partial<ReplayResult>): ReplayResult {
  return {
    policy: 'fifo',
    load: 1,
    totalGpus: 4,
    nodes: 1,
    entitlementsBasisPoints: { a: 10_000 },
    jobs: [],
    utilization: [],
    makespanSeconds: 100,
    wallMs: 5,
    cycles: 1,
    ...fields,
  };
}

describe('nearestRank', () => {
  it('is the value at rank ⌈p/100 × n⌉ of 1..100 and 1..20, never interpolated', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([50, 95, 99, 100].map((p) => nearestRank(hundred, p))).toEqual([50, 95, 99, 100]);
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    // ⌈0.5×20⌉ = 10, ⌈0.95×20⌉ = 19, ⌈0.99×20⌉ = 20; p0 → the smallest.
    expect([0, 50, 95, 99].map((p) => nearestRank(twenty, p))).toEqual([1, 10, 19, 20]);
  });

  it('is null for no values and the only value for one', () => {
    expect(nearestRank([], 50)).toBeNull();
    expect(nearestRank([7], 99)).toBe(7);
  });
});

describe('jainIndex', () => {
  it('is 1 when every value is equal', () => {
    expect(jainIndex([3, 3, 3])).toBe(1);
  });

  it('is 1/n when one of n takes everything', () => {
    expect(jainIndex([5, 0, 0, 0])).toBe(0.25);
  });

  it('is (Σx)² ÷ (n × Σx²) in between: [1, 3] → 16 ÷ 20', () => {
    expect(jainIndex([1, 3])).toBeCloseTo(0.8, 12);
  });
});

describe('sizeClass', () => {
  it('puts 1 GPU, 2–8 and more than 8 apart', () => {
    expect([1, 2, 8, 9, 64].map(sizeClass)).toEqual(['1', '2-8', '2-8', '>8', '>8']);
  });
});

describe('computeMetrics', () => {
  it('integrates the samples as a step function for utilization: 2 GPUs × 50 s + 4 × 50 s of 4 × 100', () => {
    const metrics = computeMetrics(result({ utilization: [sample(0, 2), sample(50, 4)] }));
    expect(busyGpuSeconds([sample(0, 2), sample(50, 4)], 100)).toBe(300);
    expect(metrics.utilization).toBe(0.75);
  });

  it('counts nothing busy before the first sample and stops at the makespan', () => {
    // busy 4 over [20, 100) of a 4-GPU, 100 s replay; the sample at 120 is past the makespan.
    const metrics = computeMetrics(result({ utilization: [sample(20, 4), sample(120, 0)] }));
    expect(metrics.utilization).toBe(0.8);
  });

  it('reports useful utilization from the jobs, below the sampled one when preempted work was redone', () => {
    // The job needs 2 GPUs × 50 s of work; the samples show 2 GPUs busy for 75 s (25 s lost to a preemption).
    const metrics = computeMetrics(
      result({
        jobs: [job('j1', { gpus: 2, startAt: 0, duration: 50 }, { endAt: 100, preemptions: 1 })],
        utilization: [sample(0, 2), sample(75, 0)],
      }),
    );
    expect(metrics.utilization).toBe(0.375);
    expect(metrics.usefulUtilization).toBe(0.25);
  });

  it('takes queueing delay p50/p95/p99 by nearest rank over startAt − submitAt', () => {
    // Waits 0, 10, …, 90: p50 is rank 5 (40), p95 rank 10 (90), p99 rank 10 (90); mean 45.
    const jobs = Array.from({ length: 10 }, (_, i) =>
      job(`j${i}`, { submitAt: i, startAt: i + 10 * i, duration: 1 }),
    );
    const metrics = computeMetrics(result({ jobs }));
    expect(metrics.queueingDelaySeconds).toEqual({ jobs: 10, p50: 40, p95: 90, p99: 90, mean: 45 });
  });

  it('splits queueing delay by size class (1, 2–8, >8 GPUs) and leaves an empty class null', () => {
    const metrics = computeMetrics(
      result({
        totalGpus: 32,
        jobs: [
          job('j1', { gpus: 1, startAt: 5, duration: 1 }),
          job('j2', { gpus: 1, startAt: 7, duration: 1 }),
          job('j3', { gpus: 8, startAt: 30, duration: 1 }),
        ],
      }),
    );
    expect(metrics.queueingDelayBySizeSeconds).toEqual({
      '1': { jobs: 2, p50: 5, p95: 7, p99: 7 },
      '2-8': { jobs: 1, p50: 30, p95: 30, p99: 30 },
      '>8': { jobs: 0, p50: null, p95: null, p99: null },
    });
  });

  it('measures job completion time as endAt − submitAt: 10, 20, 60 → mean 30, p50 20, p99 60', () => {
    const metrics = computeMetrics(
      result({
        jobs: [
          job('j1', { startAt: 0, duration: 10 }),
          job('j2', { startAt: 10, duration: 10 }),
          job('j3', { startAt: 30, duration: 30 }),
        ],
      }),
    );
    expect(metrics.completionTimeSeconds).toEqual({ mean: 30, p50: 20, p99: 60 });
  });

  it('bounds slowdown with τ = 10 s and at 1: (8 + 2) ÷ 10 → 1, (100 + 100) ÷ 100 → 2, 5 ÷ 10 → 1', () => {
    const metrics = computeMetrics(
      result({
        jobs: [
          job('j1', { startAt: 8, duration: 2 }),
          job('j2', { startAt: 100, duration: 100 }),
          job('j3', { startAt: 0, duration: 5 }),
        ],
      }),
    );
    expect(metrics.boundedSlowdownMean).toBeCloseTo(4 / 3, 12);
  });

  it('counts time off the GPUs after a preemption in the slowdown: submit 0, start 0, end 60, run 20 → 3', () => {
    const metrics = computeMetrics(
      result({ jobs: [job('j1', { startAt: 0, duration: 20 }, { endAt: 60, preemptions: 2 })] }),
    );
    expect(metrics.boundedSlowdownMean).toBe(3);
    expect(metrics.preemptions).toBe(2);
  });

  it('gives Jain = 1 when usage is exactly proportional to entitlement (75/25 → 300 and 100 GPU-s)', () => {
    const metrics = computeMetrics(
      result({
        entitlementsBasisPoints: { a: 7500, b: 2500 },
        jobs: [
          job('j1', { tenant: 'a', gpus: 3, startAt: 0, duration: 100 }),
          job('j2', { tenant: 'b', gpus: 1, startAt: 0, duration: 100 }),
        ],
      }),
    );
    expect(metrics.jainFairness).toBeCloseTo(1, 12);
  });

  it('gives Jain = 1/n when one of n equally entitled tenants takes everything', () => {
    const metrics = computeMetrics(
      result({
        entitlementsBasisPoints: { a: 2500, b: 2500, c: 2500, d: 2500 },
        jobs: [job('j1', { tenant: 'a', gpus: 4, startAt: 0, duration: 100 })],
      }),
    );
    expect(metrics.jainFairness).toBe(0.25);
  });

  it('leaves tenants without an entitlement out of Jain and lists them', () => {
    const metrics = computeMetrics(
      result({
        entitlementsBasisPoints: { a: 5000, b: 5000, zero: 0 },
        jobs: [
          job('j1', { tenant: 'a', startAt: 0, duration: 10 }),
          job('j2', { tenant: 'b', startAt: 0, duration: 10 }),
          job('j3', { tenant: 'zero', gpus: 4, startAt: 0, duration: 90 }),
          job('j4', { tenant: 'stranger', gpus: 4, startAt: 0, duration: 90 }),
        ],
      }),
    );
    expect(metrics.jainFairness).toBe(1);
    expect(metrics.tenantsWithoutEntitlement).toEqual(['stranger', 'zero']);
  });

  it('averages Jain over windows among active tenants: a runs while b waits (½), then b alone (1) → ¾', () => {
    // 50/50 entitlements, 100 s windows. [0, 100): a uses 200 GPU-s, b waits (active, 0) → J = ½.
    // [100, 200): a ended exactly at 100 (not active), b uses 200 → J = 1. The whole run: 200 vs 200 → 1.
    const metrics = computeMetrics(
      result({
        makespanSeconds: 200,
        entitlementsBasisPoints: { a: 5000, b: 5000 },
        jobs: [
          job('j1', { tenant: 'a', gpus: 2, startAt: 0, duration: 100 }),
          job('j2', { tenant: 'b', gpus: 2, submitAt: 0, startAt: 100, duration: 100 }),
        ],
      }),
      { fairnessWindowSeconds: 100 },
    );
    expect(metrics.jainFairness).toBe(1);
    expect(metrics.jainWindowed).toEqual({ windowSeconds: 100, windows: 2, mean: 0.75, min: 0.5 });
  });

  it('spreads a job straddling two windows over both in proportion to its time in each', () => {
    // a: 1 GPU over [50, 150) → 50 GPU-s in each 100 s window; b: 1 GPU over [0, 50) then [100, 150).
    // Window 0: a 50, b 50 → 1. Window 1: a 50, b 50 → 1.
    const metrics = computeMetrics(
      result({
        makespanSeconds: 200,
        entitlementsBasisPoints: { a: 5000, b: 5000 },
        jobs: [
          job('j1', { tenant: 'a', startAt: 50, duration: 100 }),
          job('j2', { tenant: 'b', startAt: 0, duration: 50 }),
          job('j3', { tenant: 'b', submitAt: 100, startAt: 100, duration: 50 }),
        ],
      }),
      { fairnessWindowSeconds: 100 },
    );
    expect(metrics.jainWindowed.mean).toBe(1);
  });

  it('names the longest-waiting job for starvation, the smaller id on a tie', () => {
    const metrics = computeMetrics(
      result({
        jobs: [
          job('j3', { tenant: 'b', gpus: 2, submitAt: 5, startAt: 45, duration: 1 }),
          job('j2', { tenant: 'a', gpus: 8, submitAt: 0, startAt: 40, duration: 1 }),
          job('j1', { startAt: 10, duration: 1 }),
        ],
      }),
    );
    expect(metrics.starvation).toEqual({ longestWaitSeconds: 40, jobId: 'j2', tenant: 'a', gpus: 8 });
  });

  it('averages fragmentation over samples (unweighted) and takes the max: 0, 1, 2 of 4 → 0.25 and 0.5', () => {
    const metrics = computeMetrics(
      result({ utilization: [sample(0, 0, 0), sample(10, 0, 1), sample(90, 0, 2)] }),
    );
    expect(metrics.fragmentation).toEqual({ mean: 0.25, max: 0.5 });
  });

  it('sums preemptions over jobs', () => {
    const metrics = computeMetrics(
      result({
        jobs: [
          job('j1', { startAt: 0, duration: 10 }, { preemptions: 1 }),
          job('j2', { startAt: 0, duration: 10 }, { preemptions: 2 }),
        ],
      }),
    );
    expect(metrics.preemptions).toBe(3);
  });

  it('leaves jobs that never finished out of the job metrics and counts them', () => {
    const metrics = computeMetrics(
      result({
        jobs: [
          job('j1', { startAt: 10, duration: 10 }),
          job('j2', { startAt: Number.NaN, duration: 10 }, { endAt: Number.POSITIVE_INFINITY }),
        ],
      }),
    );
    expect(metrics.jobs).toBe(1);
    expect(metrics.unfinished).toBe(1);
    expect(metrics.queueingDelaySeconds.p99).toBe(10);
  });

  it('gives empty metrics (nulls, zeros) for a replay without jobs or samples', () => {
    const metrics = computeMetrics(result({ makespanSeconds: 0 }));
    expect(metrics.utilization).toBe(0);
    expect(metrics.queueingDelaySeconds.p50).toBeNull();
    expect(metrics.jainFairness).toBeNull();
    expect(metrics.starvation).toBeNull();
    expect(metrics.fragmentation).toEqual({ mean: 0, max: 0 });
  });

  it('is pure: the same result twice gives equal metrics and the input is not reordered', () => {
    const jobs = [job('j2', { startAt: 30, duration: 1 }), job('j1', { startAt: 10, duration: 1 })];
    const input = result({ jobs, utilization: [sample(0, 1)] });
    const snapshot = structuredClone(input);
    expect(computeMetrics(input)).toEqual(computeMetrics(input));
    expect(input).toEqual(snapshot);
  });
});

describe('utilizationSeries', () => {
  it('averages the step function over equal buckets: busy 4 of 4 until 30 s, 4 buckets over 100 s', () => {
    const series = utilizationSeries([sample(0, 4), sample(30, 0)], 4, 100, 4);
    expect(series).toEqual([
      { t: 12.5, utilization: 1 },
      { t: 37.5, utilization: 0.2 },
      { t: 62.5, utilization: 0 },
      { t: 87.5, utilization: 0 },
    ]);
  });

  it('does not stall on samples at bucket boundaries that floats round down (every 0.1 s over 1 s)', () => {
    const samples = Array.from({ length: 10 }, (_, i) => sample(i * 0.1, 4));
    const series = utilizationSeries(samples, 4, 1, 10);
    expect(series).toHaveLength(10);
    for (const point of series) expect(point.utilization).toBeCloseTo(1, 9);
  });

  it('is empty for a zero makespan', () => {
    expect(utilizationSeries([sample(0, 1)], 4, 0)).toEqual([]);
  });
});
