import { loadConfig } from '#config';
import { createApiApp } from '../bootstrap.js';
import { bootstrapAdmin } from './bootstrap-admin.js';
import { seedDemo } from './demo-seed.js';

/**
 * `node dist/apps/api/src/cli/seed.js`: the bootstrap admin, then the demo — both idempotent.
 * The demo goes through an in-process API on a loopback port, so it passes the same validation.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const admin = await bootstrapAdmin(config);
  // The in-process API's request logs would drown the launcher's output: warnings only.
  const app = await createApiApp(Object.freeze({ ...config, LOG_LEVEL: 'warn' as const }), { logs: false });
  try {
    await app.listen(0, '127.0.0.1');
    const { seeded } = await seedDemo(await app.getUrl(), config);
    process.stdout.write(
      JSON.stringify({ level: 'info', msg: 'seed done', adminCreated: admin.created, demoSeeded: seeded }) +
        '\n',
    );
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `seed failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
