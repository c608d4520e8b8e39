import { loadConfig } from '#config';
import { createDataSource } from '../data-source.js';
import { ensureDatabase } from './ensure-database.js';

/** `node dist/libs/persistence/src/cli/migrate.js`: create the database if needed, run pending migrations. */
async function main(): Promise<void> {
  const config = loadConfig();
  await ensureDatabase(config.DATABASE_URL);
  const dataSource = createDataSource({
    url: config.DATABASE_URL,
    poolSize: 2,
    applicationName: 'gpupool-migrate',
  });
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    process.stdout.write(
      JSON.stringify({
        level: 'info',
        msg: 'migrations applied',
        count: applied.length,
        names: applied.map((m) => m.name),
      }) + '\n',
    );
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `migration failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
