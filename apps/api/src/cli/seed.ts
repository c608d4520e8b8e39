import { loadConfig } from '#config';
import { createApiApp } from '../bootstrap.js';
import { bootstrapAdmin } from './bootstrap-admin.js';
import { adminCaller, seedDemo } from './demo-seed.js';
import { seedNationalPool } from './pool-seed.js';

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
    const call = await adminCaller(await app.getUrl(), config);
    const demo = await seedDemo(call);
    const pool = await seedNationalPool(call);
    const summary = {
      level: 'info',
      msg: 'seed done',
      adminCreated: admin.created,
      demoSeeded: demo.seeded,
      poolClustersCreated: pool.created,
    };
    process.stdout.write(JSON.stringify(summary) + '\n');
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
