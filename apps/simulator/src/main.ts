import { loadConfig } from '#config';
import { SimulatedClusterAgent } from './agent.js';

async function main(): Promise<void> {
  const agent = new SimulatedClusterAgent(loadConfig());
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
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
}

main().catch((error: unknown) => {
  process.stderr.write(
    `gpupool simulator failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
