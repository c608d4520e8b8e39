import { parseArgs } from 'node:util';
import { replay } from './engine.js';
import { nodesForLoad } from './sizing.js';
import { readTrace } from './trace-reader.js';
import { POLICY_NAMES, type PolicyName } from './types.js';

/**
 * Minimal runner (the quality bench builds on the engine, not on this):
 *   node dist/apps/simulator/src/replay/replay.cli.js --trace PATH [--load 0.8] [--policy gpupool]
 *     [--interval 60] [--starvation SECONDS]
 * The Philly trace: petuum/adaptdl, branch osdi21-artifact, simulator/traces/philly.csv (never
 * commit it; on this project's machines it is at ../shared/traces/philly.csv).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      trace: { type: 'string' },
      load: { type: 'string', default: '0.8' },
      policy: { type: 'string', default: 'gpupool' },
      interval: { type: 'string' },
      starvation: { type: 'string' },
    },
  });
  if (!values.trace) throw new Error('--trace PATH is required');
  const policy = values.policy as PolicyName;
  if (!POLICY_NAMES.includes(policy)) throw new Error(`--policy must be one of ${POLICY_NAMES.join(', ')}`);
  const load = Number(values.load);
  const readStarted = Date.now();
  const { jobs, dropped } = await readTrace(values.trace);
  const readMs = Date.now() - readStarted;
  const nodes = nodesForLoad(jobs, load, 8);
  const result = replay(jobs, {
    policy,
    nodes,
    cycleIntervalSeconds: values.interval === undefined ? undefined : Number(values.interval),
    starvationAfterSeconds: values.starvation === undefined ? undefined : Number(values.starvation),
  });
  let wait = 0;
  let longest = 0;
  for (const j of result.jobs) {
    wait += j.startAt - j.submitAt;
    longest = Math.max(longest, j.startAt - j.submitAt);
  }
  const meanWait = result.jobs.length > 0 ? wait / result.jobs.length : 0;
  console.log(
    [
      `trace ${values.trace}: ${jobs.length} jobs read in ${readMs} ms (${dropped} rows dropped)`,
      `policy ${policy}, load ${result.load.toFixed(3)}, ${nodes} nodes (${result.totalGpus} GPUs)`,
      `replay wall time ${(result.wallMs / 1000).toFixed(2)} s, ${result.cycles} cycles`,
      `jobs ${result.jobs.length} replayed, dropped ${JSON.stringify(result.dropped)}, preemptions ${result.preemptions}`,
      `mean wait ${meanWait.toFixed(0)} s, longest wait ${longest} s, makespan ${result.makespanSeconds} s`,
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
