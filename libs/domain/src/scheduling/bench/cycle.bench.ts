/**
 * Benchmark of the pure scheduling cycle (issue 3, evidence (a)): one H200 partition of 50,000
 * GPUs — 6,250 nodes of 8 in interconnect domains of 32 — with 100,000 queued and ~5,000 running
 * workloads, 20 programs, 500 projects. Not a test: `npm run bench:scheduler` builds and runs it.
 *
 *   node dist/libs/domain/src/scheduling/bench/cycle.bench.js [cycles=20] [--write]
 *
 * Prints JSON (decisions/s = queued workloads decided per second of cycle time, p50/p99 cycle
 * time); with --write also writes test/bench/results/scheduler-cycle.{json,md} under the current
 * directory (run it from the repository root).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runSchedulingCycle } from '../cycle.js';
import { entitledGpus, partitionCapacityGpus } from '../fair-share.js';
import { buildNodeGrid, zeroPad } from '../node-grid.js';
import { createCapacityIndex, placeWorkload } from '../placement.js';
import type { AllocationQuota, PartitionSnapshot, QueuedWorkload, RunningWorkload } from '../types.js';

export interface SyntheticPartitionOptions {
  seed: number;
  nodes: number;
  gpusPerNode: number;
  nodesPerDomain: number;
  queued: number;
  running: number;
  programs: number;
  projects: number;
}

export const BENCH_DEFAULTS: SyntheticPartitionOptions = {
  seed: 20251101,
  nodes: 6250,
  gpusPerNode: 8,
  nodesPerDomain: 32,
  queued: 100_000,
  running: 5000,
  programs: 20,
  projects: 500,
};

/** mulberry32: a tiny deterministic PRNG (no Math.random anywhere in the benchmark). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GPU counts shaped like public GPU-cluster traces: mostly 1 GPU, some 2–8, a few 16–64. */
function drawGpus(random: () => number): number {
  const r = random();
  if (r < 0.7) return 1;
  if (r < 0.78) return 2;
  if (r < 0.86) return 4;
  if (r < 0.95) return 8;
  if (r < 0.98) return 16;
  if (r < 0.995) return 32;
  return 64;
}

/** Walltime log-uniform between 10 minutes and 24 hours, in whole seconds. */
function drawWalltime(random: () => number): number {
  const min = Math.log(600);
  const max = Math.log(86_400);
  return Math.round(Math.exp(min + (max - min) * random()));
}

export function syntheticPartition(options: SyntheticPartitionOptions = BENCH_DEFAULTS): PartitionSnapshot {
  const random = prng(options.seed);
  const pick = (n: number): number => Math.floor(random() * n);
  const pad = zeroPad;
  const now = new Date(Date.UTC(2026, 2, 2, 9, 0, 0));
  const nowMs = now.getTime();

  const nodes = buildNodeGrid({
    nodes: options.nodes,
    gpusPerNode: options.gpusPerNode,
    nodesPerDomain: options.nodesPerDomain,
    nodeId: (index) => `h200-n${pad(index, 5)}`,
    domainId: (domainIndex) => `h200-d${pad(domainIndex, 3)}`,
    state: () => {
      const r = random();
      return r < 0.005 ? 'down' : r < 0.015 ? 'draining' : 'up';
    },
  });

  const programIds = Array.from({ length: options.programs }, (_, i) => `prog-${pad(i, 2)}`);
  const weights = programIds.map(() => 1 + random() * 9);
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const entitlementsBasisPoints = new Map(
    programIds.map((id, i) => [id, Math.floor((weights[i] / weightSum) * 9500)]),
  );
  const projectIds = Array.from({ length: options.projects }, (_, i) => `proj-${pad(i, 3)}`);
  const programOf = (project: number): string => programIds[project % options.programs];
  const allocations = new Map<string, AllocationQuota>();
  projectIds.forEach((_, p) => {
    const r = random();
    allocations.set(`alloc-${pad(p, 3)}`, {
      allocationId: `alloc-${pad(p, 3)}`,
      // Most allocations are comfortably funded; a few are nearly spent.
      remainingGpuSeconds: r < 0.05 ? BigInt(pick(50_000)) : BigInt(2_000_000 + pick(500_000_000)),
      maxConcurrentGpus: [64, 128, 256, 512, 1024, 2048][pick(6)],
      gpusInUse: 0,
      admitting: random() > 0.02,
    });
  });
  // Skewed project popularity: a few projects submit most workloads (sweeps).
  const drawProject = (): number => Math.floor(options.projects * Math.pow(random(), 2));

  const capacity = partitionCapacityGpus(nodes);
  const programRunning = new Map<string, number>();
  const index = createCapacityIndex(nodes, options.gpusPerNode);
  const running: RunningWorkload[] = [];
  for (let i = 0; i < options.running; i += 1) {
    const gpus = drawGpus(random);
    const placement = placeWorkload(index, gpus, options.gpusPerNode);
    if (!placement) continue;
    const project = drawProject();
    const programId = programOf(project);
    const allocation = allocations.get(`alloc-${pad(project, 3)}`)!;
    allocation.gpusInUse += gpus;
    const walltime = drawWalltime(random);
    const admittedAt = nowMs - Math.floor(random() * walltime * 1000);
    const runningGpus = (programRunning.get(programId) ?? 0) + gpus;
    programRunning.set(programId, runningGpus);
    running.push({
      id: `run-${pad(i, 5)}`,
      allocationId: allocation.allocationId,
      projectId: projectIds[project],
      programId,
      gpus,
      placement,
      admittedAt: new Date(admittedAt),
      expectedEndAt: new Date(admittedAt + walltime * 1000),
      borrowed: runningGpus > entitledGpus(capacity, entitlementsBasisPoints.get(programId) ?? 0),
    });
  }
  for (const node of nodes) node.gpusFree = index.freeOf(node.id)!;

  const queued: QueuedWorkload[] = [];
  for (let i = 0; i < options.queued; i += 1) {
    const project = drawProject();
    queued.push({
      id: `wl-${pad(i, 6)}`,
      allocationId: `alloc-${pad(project, 3)}`,
      projectId: projectIds[project],
      programId: programOf(project),
      gpus: drawGpus(random),
      walltimeSeconds: drawWalltime(random),
      priorityTier: pick(3),
      queuedAt: new Date(nowMs - Math.floor(random() * 3 * 86_400_000)),
    });
  }
  const projectUsage = new Map(projectIds.map((id) => [id, Math.floor(random() * 1e9)]));
  const projectShares = new Map(projectIds.map((id) => [id, 1 + Math.floor(random() * 1e6)]));

  return {
    gpuModel: 'H200',
    gpusPerNode: options.gpusPerNode,
    now,
    nodes,
    queued,
    running,
    allocations,
    entitlementsBasisPoints,
    projectUsage,
    projectShares,
    settings: { fairShareHalfLifeSeconds: 7 * 86_400, backfill: true, preemption: true, estimateLimit: 1000 },
  };
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

function main(argv: string[]): void {
  const write = argv.includes('--write');
  const cyclesArg = argv.find((a) => /^\d+$/.test(a));
  const cycles = cyclesArg ? Number(cyclesArg) : 20;
  const warmup = 3;
  const snapshot = syntheticPartition();
  const times: number[] = [];
  let first: ReturnType<typeof runSchedulingCycle> | null = null;
  for (let i = 0; i < warmup + cycles; i += 1) {
    const start = performance.now();
    const decision = runSchedulingCycle(snapshot);
    const elapsed = performance.now() - start;
    if (i >= warmup) times.push(elapsed);
    if (!first) first = decision;
    else if (
      decision.admitted.length !== first.admitted.length ||
      decision.waiting.length !== first.waiting.length
    ) {
      throw new Error('non-deterministic decision across cycles');
    }
  }
  const decision = first!;
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const usedGpus = snapshot.nodes.reduce((sum, n) => sum + (n.gpusTotal - n.gpusFree), 0);
  const result = {
    benchmark: 'scheduler-cycle (pure, libs/domain runSchedulingCycle)',
    command: ['node', ...process.argv.slice(1).map((a) => a.replace(process.cwd() + '/', ''))].join(' '),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cycles,
    warmupCycles: warmup,
    nodes: snapshot.nodes.length,
    gpus: snapshot.nodes.reduce((sum, n) => sum + n.gpusTotal, 0),
    gpusInUseBefore: usedGpus,
    queued: snapshot.queued.length,
    running: snapshot.running.length,
    programs: snapshot.entitlementsBasisPoints.size,
    projects: snapshot.projectShares.size,
    decisionsPerSecond: Math.round(snapshot.queued.length / (mean / 1000)),
    cycleMs: {
      mean: round(mean, 2),
      p50: round(percentile(sorted, 50), 2),
      p99: round(percentile(sorted, 99), 2),
    },
    admitted: decision.admitted.length,
    backfilled: decision.admitted.filter((a) => a.backfilled).length,
    preempted: decision.preempted.length,
    waiting: decision.waiting.length,
    reservation: decision.reservation
      ? { workloadId: decision.reservation.workloadId, startAt: decision.reservation.startAt.toISOString() }
      : null,
    measuredAt: new Date().toISOString(),
  };
  const json = JSON.stringify(result, null, 2);
  console.log(json);
  if (write) {
    const dir = join(process.cwd(), 'test', 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'scheduler-cycle.json'), json + '\n');
    const rows: [string, string][] = [
      ['nodes × GPUs/node', `${result.nodes} × ${snapshot.gpusPerNode} (${result.gpus} GPUs)`],
      ['queued / running', `${result.queued} / ${result.running}`],
      ['programs / projects', `${result.programs} / ${result.projects}`],
      ['cycles (after warm-up)', `${cycles} (+${warmup})`],
      ['decisions/s', String(result.decisionsPerSecond)],
      ['cycle p50 / p99 (ms)', `${result.cycleMs.p50} / ${result.cycleMs.p99}`],
      [
        'admitted (backfilled) / preempted',
        `${result.admitted} (${result.backfilled}) / ${result.preempted}`,
      ],
      ['Node', `${result.node} ${result.platform}`],
    ];
    const md =
      `# Scheduler cycle benchmark (pure)\n\n` +
      `Command: \`${result.command}\` — ${result.measuredAt}\n\n` +
      `| metric | value |\n| --- | --- |\n` +
      rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n') +
      '\n';
    writeFileSync(join(dir, 'scheduler-cycle.md'), md);
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (invokedDirectly) main(process.argv.slice(2));
