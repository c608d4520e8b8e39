import { loadConfig } from '#config';
import { createApiApp } from './bootstrap.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createApiApp(config);
  await app.listen(config.PORT, config.HOST);
  const url = await app.getUrl();
  process.stdout.write(
    JSON.stringify({ level: 'info', msg: 'gpupool api listening', url, docs: `${url}/docs` }) + '\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `gpupool api failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
