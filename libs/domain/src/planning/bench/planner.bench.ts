/**
 * bench:planner — the reservation planner (libs/domain/src/planning) on a national-pool-sized
 * calendar, beside a first-come-first-served greedy baseline in the same run. Not a test.
 *
 *   npm run bench:planner [-- --write] [--seed N] [--requests N]
 *   (= npm run --silent build && node dist/libs/domain/src/planning/bench/planner.bench.js)
 *
 * Pool: 6,250 eight-GPU nodes (50,000 GPUs) — H100 2,560 in two clusters, H200 2,432 in two, B200
 * 1,258 in one — in interconnect domains of 32; about 2% of nodes have a 2–7 day maintenance window
 * and 0.3% are down for 2–6 weeks. Calendar: 24 Seoul months from 2026-01 (offers may fall in 2027);
 * utilization is measured over the fiscal year 2026. One program (default 50/30/20 sector targets).
 * Already on the calendar: the program's earlier awards, whole servers from 2026-01-01 for 2–9
 * months, sized so the new demand is about 3× the node time left in the year.
 * Requests: 5,000 reserved lines — servers 1 (35%), 2 (25%), 3 (5%), 4 (17%), 8 (12%), 16 (6%);
 * 1–12 months of 30 days, uniform; requested windows inside 2026, starts spread over the year; sectors
 * national 40% / industry 38% / academia 22% (industry asks beyond its 30%); one interconnect domain
 * for 60% of multi-server lines (90% of 8+); approval order random; latest end 2027-01-01 (the program
 * window). Seeded (mulberry32): the same seed gives the same calendar and the same plans.
 *
 * Runs on the same input: (a) gpupool — planReservations; (b) the same without sector targets, to
 * show what the targets cost; (c) FCFS baseline — planFirstComeFirstServed: each line at exactly its
 * requested start on the first free nodes in id order, or waitlisted. --write writes
 * test/bench/results/planner-<date>.{json,md} (run from the repository root).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { planFirstComeFirstServed } from '../baseline.js';
import { seoulMidnight, seoulPlanningMonths } from '../months.js';
import { planReservations } from '../planner.js';
import type {
  PlacedReservation,
  PlanningInput,
  PlanningNode,
  PlanResult,
  ReservationRequest,
  Sector,
  UnavailableInterval,
} from '../types.js';
import { displayRatio } from '../utilization.js';

const DAY = 86_400;
const GPU_MONTH_SECONDS = 30n * 86_400n;

/** mulberry32: a tiny deterministic PRNG (no Math.random anywhere in the benchmark). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function weighted<T>(random: () => number, choices: readonly (readonly [T, number])[]): T {
  let r = random() * choices.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [value, weight] of choices) {
    r -= weight;
    if (r < 0) return value;
  }
  return choices[choices.length - 1][0];
}

const CLUSTERS = [
  { id: 'pangyo-h100', model: 'H100', nodes: 1280 },
  { id: 'daejeon-h100', model: 'H100', nodes: 1280 },
  { id: 'gwangju-h200', model: 'H200', nodes: 1216 },
  { id: 'pangyo-h200', model: 'H200', nodes: 1216 },
  { id: 'sejong-b200', model: 'B200', nodes: 1258 },
] as const;
const MODELS = ['H100', 'H200', 'B200'] as const;
const PROGRAM = 'ai-compute-2026';

export interface BenchScenario {
  input: PlanningInput;
  yearStart: number;
  yearEnd: number;
  requestedNodeSeconds: number;
  freeNodeSecondsInYear: number;
  carriedLines: number;
}

export function benchScenario(seed: number, requestCount: number): BenchScenario {
  const random = prng(seed);
  const months = seoulPlanningMonths('2026-01', 24);
  const yearStart = months[0].start;
  const yearEnd = months[12].start;
  const yearDays = (yearEnd - yearStart) / DAY;
  const pad = (value: number, width: number): string => String(value).padStart(width, '0');

  const nodes: PlanningNode[] = [];
  for (const cluster of CLUSTERS) {
    for (let k = 0; k < cluster.nodes; k += 1) {
      const unavailable: UnavailableInterval[] = [];
      const r = random();
      if (r < 0.02) {
        const start = yearStart + Math.floor(random() * yearDays) * DAY;
        unavailable.push({ start, end: start + (2 + Math.floor(random() * 6)) * DAY, reason: 'maintenance' });
      } else if (r < 0.023) {
        const start = yearStart + Math.floor(random() * yearDays) * DAY;
        unavailable.push({ start, end: start + (14 + Math.floor(random() * 29)) * DAY, reason: 'down' });
      }
      nodes.push({
        id: `${cluster.id}-n${pad(k, 4)}`,
        clusterId: cluster.id,
        gpuModel: cluster.model,
        gpusPerNode: 8,
        interconnectDomain: `d${pad(Math.floor(k / 32), 2)}`,
        unavailable,
      });
    }
  }

  const requests: ReservationRequest[] = [];
  const demandByModel = new Map<string, number>(MODELS.map((model) => [model, 0]));
  let requestedNodeSeconds = 0;
  const approvalStart = seoulMidnight('2025-12-01');
  for (let i = 0; i < requestCount; i += 1) {
    const gpuModel = weighted(random, [
      ['H100', 45],
      ['H200', 35],
      ['B200', 20],
    ] as const);
    const servers = weighted(random, [
      [1, 35],
      [2, 25],
      [3, 5],
      [4, 17],
      [8, 12],
      [16, 6],
    ] as const);
    const durationDays = (1 + Math.floor(random() * 12)) * 30;
    const startDay = Math.floor(random() * (yearDays - durationDays + 1));
    const sector = weighted<Sector>(random, [
      ['national', 40],
      ['industry', 38],
      ['academia', 22],
    ]);
    const sameInterconnectDomain = servers >= 8 ? random() < 0.9 : servers >= 2 ? random() < 0.6 : false;
    requests.push({
      lineId: `line-${pad(i, 5)}`,
      programId: PROGRAM,
      sector,
      gpuModel,
      servers,
      requestedStart: yearStart + startDay * DAY,
      durationSeconds: durationDays * DAY,
      latestEnd: yearEnd,
      sameInterconnectDomain,
      orderKey: approvalStart + Math.floor(random() * 30 * DAY),
    });
    demandByModel.set(gpuModel, (demandByModel.get(gpuModel) ?? 0) + servers * durationDays * DAY);
    requestedNodeSeconds += servers * durationDays * DAY;
  }

  // Earlier awards, already placed: whole servers from the start of the year, until the node time left
  // free in the year per model is about a third of the new demand for it.
  const reservations: PlacedReservation[] = [];
  let freeNodeSecondsInYear = 0;
  for (const model of MODELS) {
    const modelNodes = nodes.filter((node) => node.gpuModel === model);
    const available = modelNodes.reduce((sum, node) => {
      const down = (node.unavailable ?? []).reduce(
        (d, span) => d + Math.max(0, Math.min(span.end, yearEnd) - Math.max(span.start, yearStart)),
        0,
      );
      return sum + (yearEnd - yearStart) - down;
    }, 0);
    let toCarry = Math.max(0, available - (demandByModel.get(model) ?? 0) / 3);
    let k = 0;
    while (toCarry > 0 && k < modelNodes.length) {
      const servers = Math.min(
        modelNodes.length - k,
        weighted(random, [
          [1, 3],
          [2, 3],
          [4, 3],
          [8, 2],
          [16, 1],
        ] as const),
      );
      const end = months[2 + Math.floor(random() * 8)].start;
      const nodeIds = modelNodes.slice(k, k + servers).map((node) => node.id);
      reservations.push({
        lineId: `earlier-${pad(reservations.length, 4)}`,
        nodeIds,
        start: yearStart,
        end,
        programId: PROGRAM,
        sector: weighted<Sector>(random, [
          ['national', 50],
          ['industry', 30],
          ['academia', 20],
        ]),
        sameInterconnectDomain: servers > 1,
      });
      toCarry -= servers * (end - yearStart);
      k += servers;
    }
    const modelNodeIds = new Set(modelNodes.map((node) => node.id));
    freeNodeSecondsInYear +=
      available -
      reservations
        .filter((r) => modelNodeIds.has(r.nodeIds[0]))
        .reduce((sum, r) => sum + r.nodeIds.length * (r.end - r.start), 0);
  }

  return {
    input: { nodes, reservations, months, requests },
    yearStart,
    yearEnd,
    requestedNodeSeconds,
    freeNodeSecondsInYear,
    carriedLines: reservations.length,
  };
}

interface RunSummary {
  name: string;
  planningMs: number;
  placed: number;
  waitlisted: number;
  waitlistedBy: Record<string, number>;
  waitlistedWithOffer: number;
  placedServers: number;
  placedGpuMonths: number;
  meanStartDelayDays: number;
  p50StartDelayDays: number;
  p90StartDelayDays: number;
  placedAtRequestedStart: number;
  /** Lines the sector share held back to round 2, and how many of them were placed. */
  round2: { lines: number; placed: number };
  /** Fiscal-year utilization (earlier awards + new), exact. */
  utilization: { reservedGpuSeconds: string; capacityGpuSeconds: string; ratio: number };
  /** Share of the program's reserved node time in the year, by sector (earlier awards + new). */
  sectorShares: Record<Sector, number>;
  /** Highest share of any model-month's capacity taken by one sector above its target. */
  worstMonthOverTarget: { sector: Sector; gpuModel: string; month: string; share: number } | null;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summarize(name: string, scenario: BenchScenario, plan: PlanResult, planningMs: number): RunSummary {
  const placed = plan.outcomes.filter((o) => o.status === 'placed');
  const waitlisted = plan.outcomes.filter((o) => o.status === 'waitlisted');
  const waitlistedBy: Record<string, number> = {};
  for (const o of waitlisted)
    waitlistedBy[`${o.code}/${o.blockedBy}`] = (waitlistedBy[`${o.code}/${o.blockedBy}`] ?? 0) + 1;
  const delays = placed.map((o) => o.delaySeconds / DAY).sort((a, b) => a - b);
  const yearMonths = new Set(scenario.input.months.slice(0, 12).map((m) => m.key));
  let reserved = 0n;
  let capacity = 0n;
  const bySector: Record<Sector, bigint> = { national: 0n, industry: 0n, academia: 0n };
  let worst: RunSummary['worstMonthOverTarget'] = null;
  const targets = { national: 50, industry: 30, academia: 20 } as const;
  for (const cell of plan.utilization) {
    if (!yearMonths.has(cell.month)) continue;
    reserved += cell.reservedGpuSeconds;
    capacity += cell.capacityGpuSeconds;
    for (const sector of ['national', 'industry', 'academia'] as const) {
      bySector[sector] += cell.reservedBySector[sector];
      const share = displayRatio(cell.reservedBySector[sector], cell.capacityGpuSeconds);
      const over = share - targets[sector] / 100;
      if (over > 0 && (worst === null || over > worst.share - targets[worst.sector] / 100)) {
        worst = { sector, gpuModel: cell.gpuModel, month: cell.month, share };
      }
    }
  }
  const programTotal = bySector.national + bySector.industry + bySector.academia;
  const placedGpuSeconds = placed.reduce((sum, o) => sum + BigInt(o.servers * 8 * (o.end - o.start)), 0n);
  return {
    name,
    planningMs: Math.round(planningMs),
    placed: placed.length,
    waitlisted: waitlisted.length,
    waitlistedBy,
    waitlistedWithOffer: waitlisted.filter((o) => o.earliestFeasibleStart !== null).length,
    placedServers: placed.reduce((sum, o) => sum + o.servers, 0),
    placedGpuMonths: Number(placedGpuSeconds / GPU_MONTH_SECONDS),
    meanStartDelayDays: delays.length
      ? Number((delays.reduce((a, b) => a + b, 0) / delays.length).toFixed(1))
      : 0,
    p50StartDelayDays: Number(percentile(delays, 50).toFixed(1)),
    p90StartDelayDays: Number(percentile(delays, 90).toFixed(1)),
    placedAtRequestedStart: placed.filter((o) => o.delaySeconds === 0).length,
    round2: {
      lines: plan.outcomes.filter((o) => o.round === 2).length,
      placed: placed.filter((o) => o.round === 2).length,
    },
    utilization: {
      reservedGpuSeconds: reserved.toString(),
      capacityGpuSeconds: capacity.toString(),
      ratio: displayRatio(reserved, capacity),
    },
    sectorShares: {
      national: displayRatio(bySector.national, programTotal),
      industry: displayRatio(bySector.industry, programTotal),
      academia: displayRatio(bySector.academia, programTotal),
    },
    worstMonthOverTarget: worst,
  };
}

function timed(plan: () => PlanResult): { plan: PlanResult; ms: number } {
  const start = performance.now();
  const result = plan();
  return { plan: result, ms: performance.now() - start };
}

const pct = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

function markdown(result: ReturnType<typeof buildResult>): string {
  const runs = result.runs;
  const row = (label: string, cell: (run: RunSummary) => string): string =>
    `| ${label} | ${runs.map(cell).join(' | ')} |`;
  const lines = [
    '# bench:planner — reserved lines on the capacity calendar',
    '',
    `Command: \`${result.command}\` (${result.node}, ${result.measuredAt}; ${result.cpu}).`,
    '',
    `${result.scenario.requests.toLocaleString('en-US')} reserved lines (${result.scenario.requestedGpus.toLocaleString('en-US')} GPUs asked) onto ${result.scenario.nodes.toLocaleString('en-US')} nodes × 8 GPUs ` +
      `(${result.scenario.clusters} clusters, domains of 32; ${result.scenario.nodesWithDownTime} nodes with down time) over 24 Seoul months from 2026-01; ` +
      `earlier awards already hold ${result.scenario.carriedLines} lines. Demand ÷ node time left free in 2026: ${result.scenario.oversubscription}×. Seed ${result.scenario.seed}.`,
    '',
    `| measure | ${runs.map((run) => run.name).join(' | ')} |`,
    `| --- | ${runs.map(() => '---').join(' | ')} |`,
    row('planning time', (run) => `${(run.planningMs / 1000).toFixed(2)} s`),
    row('placed / waitlisted', (run) => `${run.placed} / ${run.waitlisted}`),
    row('placed at the requested start', (run) => String(run.placedAtRequestedStart)),
    row('GPU-months placed (new lines)', (run) => run.placedGpuMonths.toLocaleString('en-US')),
    row(
      'GPU-month utilization of 2026 (earlier awards + new)',
      (run) =>
        `${pct(run.utilization.ratio)} (${run.utilization.reservedGpuSeconds} / ${run.utilization.capacityGpuSeconds} GPU-s)`,
    ),
    row(
      'start delay mean / p50 / p90 (days, placed lines)',
      (run) => `${run.meanStartDelayDays} / ${run.p50StartDelayDays} / ${run.p90StartDelayDays}`,
    ),
    row(
      'lines held to round 2 by their sector share (placed)',
      (run) => `${run.round2.lines} (${run.round2.placed})`,
    ),
    row('waitlisted with an offered start', (run) => String(run.waitlistedWithOffer)),
    row('waitlisted by code/cause', (run) =>
      Object.entries(run.waitlistedBy)
        .sort()
        .map(([key, count]) => `${key} ${count}`)
        .join('; '),
    ),
    row(
      'program node time 2026 by sector (nat/ind/aca)',
      (run) =>
        `${pct(run.sectorShares.national)} / ${pct(run.sectorShares.industry)} / ${pct(run.sectorShares.academia)}`,
    ),
    row('worst model-month above a sector target', (run) =>
      run.worstMonthOverTarget
        ? `${run.worstMonthOverTarget.sector} ${pct(run.worstMonthOverTarget.share)} of ${run.worstMonthOverTarget.gpuModel} ${run.worstMonthOverTarget.month}`
        : 'none',
    ),
    '',
    `gpupool planned the same input again in ${(result.repeatMs / 1000).toFixed(2)} s (warm) with an identical plan: ${result.deterministic}.`,
    '',
    'Runs: **gpupool** = planReservations (earliest feasible start ≥ requested start, best-fit nodes, sector targets as borrowable caps); ' +
      '**gpupool, no sector targets** = the same with enforceSectorTargets false; ' +
      '**FCFS baseline** = planFirstComeFirstServed: in approval order, each line only at its requested start on the first free nodes in id order, else waitlisted. ' +
      'A sector above its target in a model-month got there by borrowing (round 2: the other sectors neither used nor still asked for that node time) or through earlier awards placed before this batch.',
    '',
  ];
  return lines.join('\n');
}

function buildResult(args: { seed: number; requests: number }) {
  const scenario = benchScenario(args.seed, args.requests);
  const { input } = scenario;
  const gpupool = timed(() => planReservations(input));
  const repeat = timed(() => planReservations(input));
  const noTargets = timed(() => planReservations({ ...input, enforceSectorTargets: false }));
  const baseline = timed(() => planFirstComeFirstServed(input));
  return {
    benchmark: 'planner (libs/domain/src/planning planReservations) beside FCFS greedy',
    command: ['npm run bench:planner --', ...process.argv.slice(2)].join(' ').replace(/ --$/, ''),
    node: process.version,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' / ')} at the start (shared machine)`,
    measuredAt: new Date().toISOString(),
    scenario: {
      seed: args.seed,
      requests: input.requests.length,
      requestedGpus: input.requests.reduce((sum, r) => sum + r.servers * 8, 0),
      nodes: input.nodes.length,
      clusters: CLUSTERS.length,
      nodesWithDownTime: input.nodes.filter((node) => (node.unavailable ?? []).length > 0).length,
      carriedLines: scenario.carriedLines,
      oversubscription: Number((scenario.requestedNodeSeconds / scenario.freeNodeSecondsInYear).toFixed(2)),
    },
    runs: [
      summarize('gpupool', scenario, gpupool.plan, gpupool.ms),
      summarize('gpupool, no sector targets', scenario, noTargets.plan, noTargets.ms),
      summarize('FCFS baseline', scenario, baseline.plan, baseline.ms),
    ],
    repeatMs: Math.round(repeat.ms),
    deterministic: JSON.stringify(repeat.plan.outcomes) === JSON.stringify(gpupool.plan.outcomes),
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      write: { type: 'boolean', default: false },
      seed: { type: 'string', default: '20260101' },
      requests: { type: 'string', default: '5000' },
    },
  });
  const seed = Number(values.seed);
  const requests = Number(values.requests);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(requests) || requests < 1) {
    throw new Error('--seed and --requests must be whole numbers (requests at least 1)');
  }
  const result = buildResult({ seed, requests });
  const md = markdown(result);
  console.log(md);
  if (values.write) {
    const dir = join(process.cwd(), 'test', 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const day = result.measuredAt.slice(0, 10);
    writeFileSync(join(dir, `planner-${day}.json`), JSON.stringify(result, null, 2) + '\n');
    writeFileSync(join(dir, `planner-${day}.md`), md);
    console.log(`wrote test/bench/results/planner-${day}.{json,md}`);
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() as string);
if (invokedDirectly) main();
