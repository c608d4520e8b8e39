import pino from 'pino';
import { loadConfig } from '#config';
import { SimulatedClusterAgent } from './agent.js';
import { SyntheticLoad } from './demo/synthetic-load.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const agent = new SimulatedClusterAgent(config);
  const demo = new SyntheticLoad(
    config,
    pino({
      name: 'gpupool-demo-load',
      level: config.LOG_LEVEL,
      base: { service: 'gpupool-demo-load', pid: process.pid },
    }),
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    demo.stop();
    agent.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`gpupool simulator stopped with an error: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await agent.start();
  demo.start();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `gpupool simulator failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
