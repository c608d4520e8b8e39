/**
 * The quality benchmark's report: JSON, markdown (a summary table per load, links to charts) and
 * hand-written SVG charts (no dependency). Deterministic: the same runs and meta give the same bytes.
 * The only fields that vary between two replays of the same inputs are the timing ones, and they are
 * marked: `timing.wallMs` per policy in the JSON (listed in its `timingFields`), the "replay wall
 * (timing)" column in the markdown, `meta.at` (when the report was made) and `meta.loadAverage`.
 */
import {
  SLOWDOWN_BOUND_SECONDS,
  utilizationSeries,
  type DelayPercentiles,
  type QualityMetrics,
} from './metrics.js';
import { POLICY_NAMES, type ReplayResult } from './types.js';

export interface ReportRun {
  load: number;
  /** One per policy, in the order to show them; `metrics[i]` is `computeMetrics(results[i])`. */
  results: ReplayResult[];
  metrics: QualityMetrics[];
}

export interface ReportMeta {
  command: string;
  trace: string;
  node: string;
  at: string;
  /** The machine's load average (1 min) before and after the run: context for the wall times. */
  loadAverage?: { before: number; after: number };
}

export interface RenderedReport {
  json: string;
  markdown: string;
  /** File name (relative to the markdown) → SVG document. */
  svgs: Record<string, string>;
}

/** Most points a chart's polyline gets. */
export const MAX_CHART_POINTS = 500;

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];
const WIDTH = 760;
const HEIGHT = 420;
const MARGIN = { left: 64, right: 170, top: 44, bottom: 56 };

function color(policy: string, index: number): string {
  const known = (POLICY_NAMES as readonly string[]).indexOf(policy);
  return PALETTE[(known >= 0 ? known : POLICY_NAMES.length + index) % PALETTE.length];
}

export function loadLabel(load: number): string {
  return load.toFixed(2);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7_200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172_800) return `${(seconds / 3_600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

function percent(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '–' : `${(value * 100).toFixed(1)}%`;
}

function fixed(value: number | null, digits: number): string {
  return value === null || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function coordinate(value: number): string {
  return value.toFixed(1);
}

interface Series {
  policy: string;
  points: { x: number; y: number }[];
}

interface Axis {
  label: string;
  ticks: { at: number; label: string }[];
  /** Data value → 0..1 along the axis. */
  scale: (value: number) => number;
}

function chart(title: string, x: Axis, y: Axis, series: Series[]): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (value: number): number => MARGIN.left + x.scale(value) * plotWidth;
  const py = (value: number): number => MARGIN.top + (1 - y.scale(value)) * plotHeight;
  const bottom = MARGIN.top + plotHeight;
  const right = MARGIN.left + plotWidth;
  const lines: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (const tick of x.ticks) {
    const at = coordinate(px(tick.at));
    lines.push(
      `<line x1="${at}" y1="${MARGIN.top}" x2="${at}" y2="${bottom}" stroke="#e5e5e5"/>`,
      `<text x="${at}" y="${bottom + 18}" text-anchor="middle">${escapeXml(tick.label)}</text>`,
    );
  }
  for (const tick of y.ticks) {
    const at = coordinate(py(tick.at));
    lines.push(
      `<line x1="${MARGIN.left}" y1="${at}" x2="${right}" y2="${at}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${at}" text-anchor="end" dominant-baseline="middle">${escapeXml(tick.label)}</text>`,
    );
  }
  lines.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333333"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escapeXml(x.label)}</text>`,
    `<text x="16" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotHeight / 2})">${escapeXml(y.label)}</text>`,
  );
  series.forEach((line, index) => {
    const points = line.points
      .filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y))
      .map((point) => `${coordinate(px(point.x))},${coordinate(py(point.y))}`)
      .join(' ');
    const stroke = color(line.policy, index);
    lines.push(
      `<polyline fill="none" stroke="${stroke}" stroke-width="1.5" points="${points}"><title>${escapeXml(line.policy)}</title></polyline>`,
    );
    const legendY = MARGIN.top + 10 + index * 20;
    lines.push(
      `<rect x="${right + 16}" y="${legendY - 5}" width="18" height="3" fill="${stroke}"/>`,
      `<text x="${right + 40}" y="${legendY}" dominant-baseline="middle">${escapeXml(line.policy)}</text>`,
    );
  });
  lines.push('</svg>');
  return `${lines.join('\n')}\n`;
}

const FRACTION_AXIS_TICKS = [0, 0.25, 0.5, 0.75, 1].map((at) => ({ at, label: at.toFixed(2) }));

/**
 * Queueing-delay CDF, one polyline per policy, x on a log scale in seconds from 1 s to the decade
 * above the longest delay (at least 10 s). Delays under 1 s (e.g. 0) are drawn at 1 s. At most
 * MAX_CHART_POINTS points per line, at evenly spaced ranks; y = the fraction of jobs with a delay
 * ≤ that point's delay (ties included), so the line is exact at every point drawn.
 */
export function delayCdfSvg(
  title: string,
  lines: { policy: string; delaysSeconds: readonly number[] }[],
): string {
  let longest = 10;
  const sortedLines = lines.map((line) => {
    const sorted = line.delaysSeconds.filter(Number.isFinite).sort((a, b) => a - b);
    if (sorted.length > 0) longest = Math.max(longest, sorted[sorted.length - 1]);
    return { policy: line.policy, sorted };
  });
  const decades = Math.ceil(Math.log10(longest));
  const xAxis: Axis = {
    label: 'queueing delay (log scale)',
    ticks: Array.from({ length: decades + 1 }, (_, k) => ({ at: 10 ** k, label: formatDuration(10 ** k) })),
    scale: (value) => Math.log10(Math.max(1, value)) / decades,
  };
  const yAxis: Axis = { label: 'fraction of jobs', ticks: FRACTION_AXIS_TICKS, scale: (value) => value };
  const series = sortedLines.map(({ policy, sorted }) => {
    const n = sorted.length;
    const count = Math.min(n, MAX_CHART_POINTS);
    const points: { x: number; y: number }[] = [];
    for (let k = 0; k < count; k += 1) {
      const rank = count === 1 ? n - 1 : Math.round((k * (n - 1)) / (count - 1));
      points.push({ x: Math.max(1, sorted[rank]), y: upperBound(sorted, sorted[rank]) / n });
    }
    return { policy, points };
  });
  return chart(title, xAxis, yAxis, series);
}

/** How many of ascending `sorted` are ≤ value. */
function upperBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * GPU utilization over time, one polyline per policy: MAX_CHART_POINTS equal time buckets over each
 * replay's makespan, each the time-weighted mean of busy ÷ total GPUs (see `utilizationSeries`).
 * x in hours, or days when the longest makespan is over two days.
 */
export function utilizationSvg(title: string, results: readonly ReplayResult[]): string {
  const end = results.reduce((max, result) => Math.max(max, result.makespanSeconds), 0);
  const unit = end > 172_800 ? { seconds: 86_400, name: 'days' } : { seconds: 3_600, name: 'hours' };
  const span = Math.max(end / unit.seconds, 1e-9);
  const step = niceStep(span / 8);
  const ticks: { at: number; label: string }[] = [];
  for (let at = 0; at <= span + 1e-9; at += step) ticks.push({ at, label: trimNumber(at) });
  const xAxis: Axis = {
    label: `time since the first submission (${unit.name})`,
    ticks,
    scale: (value) => value / span,
  };
  const yAxis: Axis = { label: 'GPUs busy ÷ total', ticks: FRACTION_AXIS_TICKS, scale: (value) => value };
  const series = results.map((result) => ({
    policy: result.policy,
    points: utilizationSeries(
      result.utilization,
      result.totalGpus,
      result.makespanSeconds,
      MAX_CHART_POINTS,
    ).map((point) => ({ x: point.t / unit.seconds, y: point.utilization })),
  }));
  return chart(title, xAxis, yAxis, series);
}

function niceStep(rough: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const normalized = rough / magnitude;
  return (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10) * magnitude;
}

function trimNumber(value: number): string {
  return String(Number(value.toFixed(6)));
}

function sizeP95(bySize: Record<string, DelayPercentiles>, size: string): string {
  return formatDuration(bySize[size]?.p95);
}

/**
 * Metrics on which gpupool is worse than the best baseline run at the same load (lower is better
 * for delays, completion, slowdown, longest wait; higher for utilization and windowed fairness),
 * as markdown bullets naming both figures. Empty when gpupool is not in the run.
 */
export function gpupoolLosses(metrics: readonly QualityMetrics[]): string[] {
  const ours = metrics.find((m) => m.policy === 'gpupool');
  const baselines = metrics.filter((m) => m.policy !== 'gpupool');
  if (!ours || baselines.length === 0) return [];
  const checks: {
    name: string;
    value: (m: QualityMetrics) => number | null;
    higherIsBetter: boolean;
    show: (v: number) => string;
  }[] = [
    {
      name: 'delay p50',
      value: (m) => m.queueingDelaySeconds.p50,
      higherIsBetter: false,
      show: formatDuration,
    },
    {
      name: 'delay p95',
      value: (m) => m.queueingDelaySeconds.p95,
      higherIsBetter: false,
      show: formatDuration,
    },
    {
      name: 'delay p99',
      value: (m) => m.queueingDelaySeconds.p99,
      higherIsBetter: false,
      show: formatDuration,
    },
    {
      name: 'JCT mean',
      value: (m) => m.completionTimeSeconds.mean,
      higherIsBetter: false,
      show: formatDuration,
    },
    {
      name: 'bounded slowdown',
      value: (m) => m.boundedSlowdownMean,
      higherIsBetter: false,
      show: (v) => v.toFixed(2),
    },
    {
      name: 'longest wait',
      value: (m) => m.starvation?.longestWaitSeconds ?? null,
      higherIsBetter: false,
      show: formatDuration,
    },
    {
      name: 'useful utilization',
      value: (m) => m.usefulUtilization,
      higherIsBetter: true,
      show: (v) => `${(v * 100).toFixed(1)}%`,
    },
    {
      name: 'Jain daily mean',
      value: (m) => m.jainWindowed.mean,
      higherIsBetter: true,
      show: (v) => v.toFixed(3),
    },
  ];
  const lines: string[] = [];
  for (const check of checks) {
    const mine = check.value(ours);
    if (mine === null) continue;
    let best: { policy: string; value: number } | null = null;
    for (const m of baselines) {
      const v = check.value(m);
      if (v === null) continue;
      if (!best || (check.higherIsBetter ? v > best.value : v < best.value))
        best = { policy: m.policy, value: v };
    }
    if (!best) continue;
    const worse = check.higherIsBetter ? mine < best.value : mine > best.value;
    if (worse)
      lines.push(`- ${check.name}: gpupool ${check.show(mine)}, ${best.policy} ${check.show(best.value)}`);
  }
  return lines;
}

/** What the measurements showed about gpupool's losses, and what was tried (see the report's tables). */
const POLICY_TRADE = [
  "gpupool orders by program entitlement and then by each project's decayed usage against its share, so",
  'the light tenants of the trace run almost at once (delay p50 of minutes to hours where FIFO + backfill',
  'takes days) and the heavy tenants wait. When the cluster is overloaded the heaviest tenants therefore',
  "hold the tail: gpupool's longest wait and its delay for the largest jobs are worse than the baselines',",
  'by design — that is the fair-share trade, paid by whoever used the most recently. Preemption adds',
  'redone work (the gap between GPU util and useful util) to give entitled tenants their share back.',
  '',
  'A starvation guard was measured (SchedulingSettings.starvationAfterSeconds: a workload queued that long',
  'goes first, oldest first, and is never preempted once started), on this trace at load 0.8 (59 nodes):',
  '',
  '| guard | mean delay | longest wait |',
  '| --- | --- | --- |',
  '| off | 23.4 h | 60.9 d |',
  '| 14 days | 2.8 d | 21.0 d |',
  '| 3 days | 6.7 d | — (slower than FIFO + backfill: mean 5.7 d) |',
  '',
  'At this load the backlog is days deep for every policy, so a guard of days turns gpupool into FIFO for',
  'most of the queue and loses what fair share gives the light tenants. It is therefore off by default',
  '(SCHEDULER_STARVATION_SECONDS=0) and left to operators who prefer a bounded tail: the national pool runs',
  'below saturation most of the time, where the tail is hours, not weeks.',
];

const COLUMNS = [
  'policy',
  'GPU util',
  'useful util',
  'delay p50',
  'delay p95',
  'delay p99',
  'p95 1 GPU',
  'p95 2–8',
  'p95 >8',
  'JCT mean',
  'JCT p50',
  'JCT p99',
  'bounded slowdown',
  'Jain',
  'Jain daily mean / min',
  'longest wait (job)',
  'fragmentation mean / max',
  'preemptions',
  'replay wall (timing)',
];

function tableRow(result: ReplayResult, metrics: QualityMetrics): string {
  const starvation = metrics.starvation;
  const cells = [
    metrics.policy,
    percent(metrics.utilization),
    percent(metrics.usefulUtilization),
    formatDuration(metrics.queueingDelaySeconds.p50),
    formatDuration(metrics.queueingDelaySeconds.p95),
    formatDuration(metrics.queueingDelaySeconds.p99),
    sizeP95(metrics.queueingDelayBySizeSeconds, '1'),
    sizeP95(metrics.queueingDelayBySizeSeconds, '2-8'),
    sizeP95(metrics.queueingDelayBySizeSeconds, '>8'),
    formatDuration(metrics.completionTimeSeconds.mean),
    formatDuration(metrics.completionTimeSeconds.p50),
    formatDuration(metrics.completionTimeSeconds.p99),
    fixed(metrics.boundedSlowdownMean, 2),
    fixed(metrics.jainFairness, 3),
    `${fixed(metrics.jainWindowed.mean, 3)} / ${fixed(metrics.jainWindowed.min, 3)}`,
    starvation === null
      ? '–'
      : `${formatDuration(starvation.longestWaitSeconds)} (${starvation.jobId}, ${starvation.tenant}, ${starvation.gpus} GPU)`,
    `${percent(metrics.fragmentation.mean)} / ${percent(metrics.fragmentation.max)}`,
    String(metrics.preemptions),
    `${(result.wallMs / 1000).toFixed(1)} s`,
  ];
  return `| ${cells.map(escapeCell).join(' | ')} |`;
}

function delays(result: ReplayResult): number[] {
  return result.jobs
    .filter((job) => Number.isFinite(job.startAt) && Number.isFinite(job.endAt))
    .map((job) => job.startAt - job.submitAt);
}

const DEFINITIONS = [
  '- **GPU util**: busy GPU-seconds ÷ (total GPUs × makespan), busy integrated from the utilization samples as a step function. **useful util**: the same from the jobs (Σ GPUs × duration); the gap is preempted work redone, plus GPUs freed between two samples counted busy until the next one.',
  '- **delay**: queueing delay, first start − submission; percentiles are nearest-rank (the value at rank ⌈p/100 × n⌉, never interpolated). By size: 1 GPU, 2–8 GPUs, more than 8.',
  '- **JCT**: job completion time, end − submission.',
  `- **bounded slowdown**: mean of max(1, (end − submission) ÷ max(run time, ${SLOWDOWN_BOUND_SECONDS} s)).`,
  "- **Jain**: (Σx)² ÷ (n × Σx²) over tenants, x = a tenant's used GPU-seconds ÷ its entitled share (1 = exactly proportional, 1/n = one tenant took everything). Over the whole run it is ≈ 1 by construction when every job completes and entitlements follow the trace's GPU-hours; **Jain daily** is the mean (and min) over one-day windows among the tenants with a job waiting or running in the window, so it shows who was served while others waited.",
  '- **longest wait**: the job with the longest queueing delay (starvation).',
  '- **fragmentation**: GPUs free but unusable by the head of the queue ÷ total GPUs, mean over samples and max.',
  '- **replay wall (timing)**: wall-clock time of the replay; the only column that varies between runs of the same inputs.',
];

export function renderReport(runs: readonly ReportRun[], meta: ReportMeta): RenderedReport {
  const svgs: Record<string, string> = {};
  const markdown: string[] = [
    '# Scheduling quality: trace replay',
    '',
    `Command: \`${meta.command}\``,
    '',
    `Trace: \`${meta.trace}\` · Node: ${meta.node} · At: ${meta.at} (timing)` +
      (meta.loadAverage
        ? ` · load average ${meta.loadAverage.before.toFixed(2)} before, ${meta.loadAverage.after.toFixed(2)} after` +
          ' (wall times are inflated when other work shares the 2 cores)'
        : ''),
    '',
  ];
  const jsonRuns = runs.map((run) => {
    if (run.results.length !== run.metrics.length) {
      throw new Error(`Load ${run.load}: ${run.results.length} results but ${run.metrics.length} metrics`);
    }
    const label = loadLabel(run.load);
    const cdfFile = `delay-cdf-load-${label}.svg`;
    const utilizationFile = `utilization-load-${label}.svg`;
    svgs[cdfFile] = delayCdfSvg(
      `Queueing delay CDF, load ${label}`,
      run.results.map((result) => ({ policy: result.policy, delaysSeconds: delays(result) })),
    );
    svgs[utilizationFile] = utilizationSvg(`GPU utilization over time, load ${label}`, run.results);

    const first = run.results[0];
    markdown.push(`## Load ${label}`, '');
    if (first !== undefined) {
      markdown.push(
        `Cluster: ${first.nodes} nodes, ${first.totalGpus} GPUs · offered load ${first.load.toFixed(3)} · ` +
          `${first.jobs.length} jobs · ${Object.keys(first.entitlementsBasisPoints).length} tenants`,
        '',
      );
    }
    markdown.push(`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map(() => ' --- ').join('|')}|`);
    run.results.forEach((result, index) => markdown.push(tableRow(result, run.metrics[index])));
    const unfinished = run.metrics.filter((metrics) => metrics.unfinished > 0);
    if (unfinished.length > 0) {
      markdown.push(
        '',
        `Unfinished jobs (left out of the job metrics): ${unfinished.map((m) => `${m.policy} ${m.unfinished}`).join(', ')}.`,
      );
    }
    const losses = gpupoolLosses(run.metrics);
    if (losses.length > 0) {
      markdown.push('', `Where gpupool does worse than the better baseline at this load:`, '', ...losses);
    }
    markdown.push(
      '',
      `![Queueing delay CDF, load ${label}](${cdfFile})`,
      '',
      `![GPU utilization over time, load ${label}](${utilizationFile})`,
      '',
    );

    return {
      load: run.load,
      policies: run.results.map((result, index) => ({
        policy: result.policy,
        nodes: result.nodes,
        totalGpus: result.totalGpus,
        offeredLoad: result.load,
        cycles: result.cycles,
        metrics: run.metrics[index],
        timing: { wallMs: result.wallMs },
      })),
      charts: { delayCdf: cdfFile, utilization: utilizationFile },
    };
  });
  markdown.push('## The policy trade', '', ...POLICY_TRADE, '', '## Definitions', '', ...DEFINITIONS, '');
  const json = {
    meta,
    timingFields: ['meta.at', 'meta.loadAverage', 'runs[].policies[].timing'],
    runs: jsonRuns,
  };
  return { json: `${JSON.stringify(json, null, 2)}\n`, markdown: markdown.join('\n'), svgs };
}
