import { loadConfig } from '#config';
import { SchedulerProcess } from './scheduler.js';

async function main(): Promise<void> {
  const scheduler = new SchedulerProcess(loadConfig());
  let stopping = false;
  // Our own signal handlers rather than enableShutdownHooks(): Nest's re-kills the process with the
  // signal after closing; here a graceful stop (workers close, then connections) exits 0.
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(
      JSON.stringify({ level: 'info', msg: `received ${signal}, stopping scheduler` }) + '\n',
    );
    scheduler.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await scheduler.start();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `gpupool scheduler failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
