import { computeMetrics } from './metrics.js';
import {
  delayCdfSvg,
  formatDuration,
  gpupoolLosses,
  MAX_CHART_POINTS,
  renderReport,
  utilizationSvg,
  type ReportRun,
} from './report.js';
import type { JobOutcome, PolicyName, ReplayResult, UtilizationSample } from './types.js';

const META = {
  command: 'node dist/test/bench/quality.bench.js --trace t.csv',
  trace: 't.csv',
  node: 'v20',
  at: 'T0',
};

/** A small deterministic fake replay: `jobs` jobs, waits growing with the index, a sample per job. */
function fakeResult(policy: PolicyName, jobs: number, wallMs = 12, waitScale = 1): ReplayResult {
  const outcomes: JobOutcome[] = [];
  const utilization: UtilizationSample[] = [];
  for (let i = 0; i < jobs; i += 1) {
    const gpus = [1, 4, 16][i % 3];
    const submitAt = i * 10;
    const startAt = submitAt + ((i * 37) % 11) * 60 * waitScale;
    outcomes.push({
      id: `j${i}`,
      tenant: `t${i % 2}`,
      gpus,
      submitAt,
      startAt,
      endAt: startAt + 100,
      durationSeconds: 100,
      preemptions: 0,
    });
    utilization.push({
      at: submitAt,
      gpusBusy: (i * 7) % 33,
      gpusTotal: 32,
      fragmentedGpus: i % 4,
      queued: i % 5,
    });
  }
  return {
    policy,
    load: 0.8,
    totalGpus: 32,
    nodes: 4,
    entitlementsBasisPoints: { t0: 5000, t1: 5000 },
    jobs: outcomes,
    utilization,
    makespanSeconds: Math.max(1, ...outcomes.map((job) => job.endAt)),
    wallMs,
    cycles: jobs,
  };
}

function run(load: number, results: ReplayResult[]): ReportRun {
  return { load, results, metrics: results.map((result) => computeMetrics(result)) };
}

/** Minimal well-formedness: every tag closed in order, attributes quoted, no bare `<` or `&`. */
function expectWellFormedSvg(svg: string, polylines: number): void {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  expect(svg.match(/<polyline /g)?.length ?? 0).toBe(polylines);
  expect(svg.replace(/&(amp|lt|gt|quot|apos);/g, '')).not.toContain('&');
  const stack: string[] = [];
  const text = svg.replace(
    /<([/]?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(\/?)>/g,
    (_, close, name, _a, self) => {
      if (close === '/') expect(stack.pop()).toBe(name);
      else if (self !== '/') stack.push(name as string);
      return '';
    },
  );
  expect(stack).toEqual([]);
  expect(text).not.toMatch(/[<>]/);
}

function polylinePoints(svg: string): number[] {
  return [...svg.matchAll(/points="([^"]*)"/g)].map((match) =>
    match[1] === '' ? 0 : match[1].split(' ').length,
  );
}

describe('delayCdfSvg', () => {
  it('draws one polyline per policy in a well-formed SVG with a legend', () => {
    const svg = delayCdfSvg('CDF', [
      { policy: 'fifo', delaysSeconds: [0, 5, 50, 5000] },
      { policy: 'gpupool', delaysSeconds: [1, 2, 3] },
    ]);
    expectWellFormedSvg(svg, 2);
    expect(svg).toContain('>fifo</text>');
    expect(svg).toContain('>gpupool</text>');
  });

  it('puts every point on a log axis from 1 s: zero delays sit at 1 s, nothing is NaN', () => {
    const svg = delayCdfSvg('all zero', [{ policy: 'fifo', delaysSeconds: [0, 0, 0] }]);
    expectWellFormedSvg(svg, 1);
    // x of 1 s is the left edge of the plot (64); the CDF there is already 1 (the top, y = 44).
    expect(svg).toContain('points="64.0,44.0 64.0,44.0 64.0,44.0"');
  });

  it('keeps a policy without jobs as an empty polyline', () => {
    expectWellFormedSvg(delayCdfSvg('empty', [{ policy: 'fifo', delaysSeconds: [] }]), 1);
  });

  it(`draws at most ${MAX_CHART_POINTS} points per line`, () => {
    const delays = Array.from({ length: 5000 }, (_, i) => i);
    expect(polylinePoints(delayCdfSvg('many', [{ policy: 'fifo', delaysSeconds: delays }]))).toEqual([
      MAX_CHART_POINTS,
    ]);
  });

  it('escapes XML in text', () => {
    const svg = delayCdfSvg('a < b & "c"', [{ policy: 'fifo', delaysSeconds: [1] }]);
    expect(svg).toContain('<title>a &lt; b &amp; &quot;c&quot;</title>');
    expectWellFormedSvg(svg, 1);
  });
});

describe('utilizationSvg', () => {
  it('draws one polyline per policy, downsampled to at most 500 points, without NaN', () => {
    const results = [fakeResult('fifo', 2000), fakeResult('fifo-backfill', 2000), fakeResult('gpupool', 30)];
    const svg = utilizationSvg('util', results);
    expectWellFormedSvg(svg, 3);
    for (const count of polylinePoints(svg)) expect(count).toBeLessThanOrEqual(MAX_CHART_POINTS);
  });

  it('survives a replay with no samples and a zero makespan', () => {
    const empty = { ...fakeResult('fifo', 0), makespanSeconds: 0 };
    expectWellFormedSvg(utilizationSvg('empty', [empty]), 1);
  });
});

describe('formatDuration', () => {
  it('picks seconds, minutes, hours or days', () => {
    expect([0, 119, 600, 7200, 200_000, null].map(formatDuration)).toEqual([
      '0 s',
      '119 s',
      '10.0 min',
      '2.0 h',
      '2.3 d',
      '–',
    ]);
  });
});

describe('renderReport', () => {
  const runs = (wallMs = 12): ReportRun[] => [
    run(0.8, [
      fakeResult('fifo', 60, wallMs),
      fakeResult('fifo-backfill', 60, wallMs),
      fakeResult('gpupool', 60, wallMs, 0.5),
    ]),
    run(1, [fakeResult('fifo', 60, wallMs, 2), fakeResult('gpupool', 60, wallMs)]),
  ];

  it('writes a summary table per load with a row per policy and the metric columns', () => {
    const { markdown } = renderReport(runs(), META);
    expect(markdown).toContain('## Load 0.80');
    expect(markdown).toContain('## Load 1.00');
    const header = markdown.split('\n').find((line) => line.startsWith('| policy |'))!;
    for (const column of [
      'GPU util',
      'delay p50',
      'delay p95',
      'delay p99',
      'p95 1 GPU',
      'p95 2–8',
      'p95 >8',
    ]) {
      expect(header).toContain(column);
    }
    for (const column of [
      'JCT mean',
      'bounded slowdown',
      'Jain',
      'longest wait',
      'fragmentation',
      'preemptions',
    ]) {
      expect(header).toContain(column);
    }
    expect(header).toContain('replay wall (timing)');
    const rows = markdown.split('\n').filter((line) => /^\| (fifo|fifo-backfill|gpupool) \|/.test(line));
    expect(rows).toHaveLength(5);
    const cells = header.split('|').length;
    for (const row of rows) expect(row.split('|')).toHaveLength(cells);
    expect(markdown).toContain(META.command);
  });

  it('links a delay CDF and a utilization chart per load, each SVG with one polyline per policy', () => {
    const { markdown, svgs } = renderReport(runs(), META);
    expect(Object.keys(svgs).sort()).toEqual([
      'delay-cdf-load-0.80.svg',
      'delay-cdf-load-1.00.svg',
      'utilization-load-0.80.svg',
      'utilization-load-1.00.svg',
    ]);
    for (const file of Object.keys(svgs)) expect(markdown).toContain(`](${file})`);
    expectWellFormedSvg(svgs['delay-cdf-load-0.80.svg'], 3);
    expectWellFormedSvg(svgs['utilization-load-0.80.svg'], 3);
    expectWellFormedSvg(svgs['delay-cdf-load-1.00.svg'], 2);
    expectWellFormedSvg(svgs['utilization-load-1.00.svg'], 2);
  });

  it('puts every policy’s metrics and its timing apart in the JSON', () => {
    const parsed = JSON.parse(renderReport(runs(), META).json);
    expect(parsed.meta).toEqual(META);
    expect(parsed.timingFields).toEqual(['meta.at', 'meta.loadAverage', 'runs[].policies[].timing']);
    expect(parsed.runs.map((r: { load: number }) => r.load)).toEqual([0.8, 1]);
    const fifo = parsed.runs[0].policies[0];
    expect(fifo.policy).toBe('fifo');
    expect(fifo.timing).toEqual({ wallMs: 12 });
    expect(fifo.metrics.jobs).toBe(60);
    expect(fifo.metrics.queueingDelaySeconds.p50).toEqual(expect.any(Number));
  });

  it('gives the same bytes for the same input', () => {
    expect(renderReport(runs(), META)).toEqual(renderReport(runs(), META));
  });

  it('differs only in the timing fields when only the replay wall time differs', () => {
    const a = renderReport(runs(12), META);
    const b = renderReport(runs(99_999), META);
    expect(b.svgs).toEqual(a.svgs);
    const strip = (json: string): unknown => {
      const parsed = JSON.parse(json);
      for (const r of parsed.runs) for (const p of r.policies) delete p.timing;
      return parsed;
    };
    expect(strip(b.json)).toEqual(strip(a.json));
    expect(b.json).not.toEqual(a.json);
    const withoutWall = (markdown: string) => markdown.replace(/ \d+\.\d s \|$/gm, ' |');
    expect(withoutWall(b.markdown)).toEqual(withoutWall(a.markdown));
  });

  it('refuses results and metrics that do not pair up', () => {
    const broken = { load: 1, results: [fakeResult('fifo', 3)], metrics: [] };
    expect(() => renderReport([broken], META)).toThrow('1 results but 0 metrics');
  });
});

describe('gpupoolLosses', () => {
  it('names each metric where gpupool is worse than the best baseline, with both figures', () => {
    // gpupool waits 3× longer than fifo-backfill here; fifo waits 2×.
    const r = run(0.8, [
      fakeResult('fifo', 30, 1, 2),
      fakeResult('fifo-backfill', 30, 1, 1),
      fakeResult('gpupool', 30, 1, 3),
    ]);
    const lines = gpupoolLosses(r.metrics);
    expect(lines).toContain(
      `- delay p50: gpupool ${formatDuration(r.metrics[2].queueingDelaySeconds.p50)}, fifo-backfill ${formatDuration(r.metrics[1].queueingDelaySeconds.p50)}`,
    );
    expect(lines.some((line) => line.startsWith('- longest wait: gpupool'))).toBe(true);
    // Where gpupool is the best, nothing is listed.
    const better = run(0.8, [fakeResult('fifo', 30, 1, 3), fakeResult('gpupool', 30, 1, 1)]);
    expect(gpupoolLosses(better.metrics).filter((line) => line.includes('delay'))).toEqual([]);
    expect(gpupoolLosses([])).toEqual([]);
  });

  it('puts the losses and the policy trade in the markdown', () => {
    const report = renderReport(
      [run(0.8, [fakeResult('fifo-backfill', 30, 1, 1), fakeResult('gpupool', 30, 1, 3)])],
      META,
    );
    expect(report.markdown).toContain('Where gpupool does worse than the better baseline at this load:');
    expect(report.markdown).toContain('## The policy trade');
  });
});
