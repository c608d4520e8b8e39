/**
 * bench:quality — scheduling quality on a real trace: every policy × load replayed through the
 * engine (the same libs/domain scheduling code as the live scheduler), summarized by
 * apps/simulator/src/replay/metrics.ts and rendered by report.ts.
 *
 *   npm run bench:quality -- --trace ../shared/traces/philly.csv --load 0.6,0.8,1.0
 *     [--policies fifo,fifo-backfill,gpupool] [--tile-pool] [--gpus-per-node 8] [--out DIR]
 *
 * The trace is read in place, never copied. Philly: petuum/adaptdl, branch osdi21-artifact,
 * simulator/traces/philly.csv (on this project's machines: ../shared/traces/philly.csv).
 * Cluster size per load: nodesForLoad (offered load = Σ gpus × duration ÷ (GPUs × span)); with
 * --tile-pool, time-shifted copies of the trace as separate tenants on a 50,000-GPU pool, as many
 * copies as make the offered load the given one. Writes quality.json, quality.md and the SVG charts
 * to --out (default test/bench/results/quality/).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { replay } from '../../apps/simulator/src/replay/engine.js';
import { computeMetrics, type QualityMetrics } from '../../apps/simulator/src/replay/metrics.js';
import { formatDuration, renderReport, type ReportRun } from '../../apps/simulator/src/replay/report.js';
import { nodesForLoad, tileForPool } from '../../apps/simulator/src/replay/sizing.js';
import { readTrace } from '../../apps/simulator/src/replay/trace-reader.js';
import { POLICY_NAMES, type PolicyName, type ReplayResult } from '../../apps/simulator/src/replay/types.js';

const POOL_GPUS = 50_000;

function summaryLine(result: ReplayResult, metrics: QualityMetrics): string {
  const delay = metrics.queueingDelaySeconds;
  return [
    result.policy.padEnd(14),
    `util ${(metrics.utilization * 100).toFixed(1)}%`.padEnd(12),
    `delay p50/p95/p99 ${formatDuration(delay.p50)} / ${formatDuration(delay.p95)} / ${formatDuration(delay.p99)}`.padEnd(
      40,
    ),
    `JCT ${formatDuration(metrics.completionTimeSeconds.mean)}`.padEnd(12),
    `bsld ${metrics.boundedSlowdownMean?.toFixed(2) ?? '–'}`.padEnd(11),
    `Jain ${metrics.jainFairness?.toFixed(3) ?? '–'} (daily ${metrics.jainWindowed.mean?.toFixed(3) ?? '–'})`.padEnd(
      27,
    ),
    `max wait ${formatDuration(metrics.starvation?.longestWaitSeconds)}`.padEnd(17),
    `frag ${(metrics.fragmentation.mean * 100).toFixed(1)}%`.padEnd(11),
    `preempt ${metrics.preemptions}`.padEnd(13),
    `wall ${(result.wallMs / 1000).toFixed(1)} s`,
  ].join(' ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      trace: { type: 'string' },
      load: { type: 'string', default: '0.8' },
      policies: { type: 'string', default: POLICY_NAMES.join(',') },
      'tile-pool': { type: 'boolean', default: false },
      'gpus-per-node': { type: 'string', default: '8' },
      out: { type: 'string', default: 'test/bench/results/quality' },
    },
  });
  if (!values.trace) throw new Error('--trace PATH is required (e.g. ../shared/traces/philly.csv)');
  const loads = values.load.split(',').map(Number);
  if (loads.some((load) => !(load > 0)))
    throw new Error(`--load must be positive numbers, got ${values.load}`);
  const policies = values.policies.split(',').map((name) => name.trim()) as PolicyName[];
  for (const policy of policies) {
    if (!POLICY_NAMES.includes(policy))
      throw new Error(`unknown policy ${policy}: one of ${POLICY_NAMES.join(', ')}`);
  }
  const gpusPerNode = Number(values['gpus-per-node']);
  if (!(Number.isInteger(gpusPerNode) && gpusPerNode > 0))
    throw new Error('--gpus-per-node must be a positive integer');

  const { jobs, dropped } = await readTrace(values.trace);
  console.log(`trace ${values.trace}: ${jobs.length} jobs (${dropped} rows dropped)`);

  const loadBefore = loadavg()[0];
  const runs: ReportRun[] = [];
  for (const load of loads) {
    // Tiled: copies for this load's demand on the 50,000-GPU pool; otherwise the trace on a cluster sized to the load.
    const input = values['tile-pool'] ? tileForPool(jobs, load * POOL_GPUS) : jobs;
    const nodes = values['tile-pool']
      ? Math.ceil(POOL_GPUS / gpusPerNode)
      : nodesForLoad(jobs, load, gpusPerNode);
    console.log(`\nload ${load.toFixed(2)}: ${nodes} nodes × ${gpusPerNode} GPUs, ${input.length} jobs`);
    const run: ReportRun = { load, results: [], metrics: [] };
    for (const policy of policies) {
      const result = replay(input, { policy, nodes, gpusPerNode });
      const metrics = computeMetrics(result);
      run.results.push(result);
      run.metrics.push(metrics);
      const droppedByEngine = result.dropped ? result.dropped.tooLarge + result.dropped.unplaceableShape : 0;
      console.log(
        summaryLine(result, metrics) +
          (droppedByEngine > 0 ? ` (${droppedByEngine} jobs not placeable)` : ''),
      );
    }
    runs.push(run);
  }

  const command = `npm run bench:quality -- ${process.argv.slice(2).join(' ')}`;
  const report = renderReport(runs, {
    command,
    trace: values.trace,
    node: `${process.version} ${process.platform}-${process.arch}`,
    at: new Date().toISOString(),
    loadAverage: { before: loadBefore, after: loadavg()[0] },
  });
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'quality.json'), report.json);
  writeFileSync(join(values.out, 'quality.md'), report.markdown);
  for (const [file, svg] of Object.entries(report.svgs)) writeFileSync(join(values.out, file), svg);
  console.log(
    `\nwrote ${join(values.out, 'quality.md')}, quality.json and ${Object.keys(report.svgs).length} charts`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
