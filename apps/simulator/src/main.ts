import { loadConfig } from '#config';
import { SimulatedClusterAgent } from './agent.js';

async function main(): Promise<void> {
  const agent = new SimulatedClusterAgent(loadConfig());
  const stop = (): void => {
    agent.stop();
    process.exit(0);
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
