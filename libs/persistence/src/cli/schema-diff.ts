import { createDataSource } from '../data-source.js';
import { ensureDatabase } from './ensure-database.js';

/**
 * Prints the SQL that would bring the database (after all migrations) in line with the entities.
 * Empty output means entities and migrations agree; a test asserts that. Used to draft new migrations.
 */
export async function pendingSchemaChanges(url: string): Promise<string[]> {
  await ensureDatabase(url);
  const dataSource = createDataSource({ url, poolSize: 2, applicationName: 'gpupool-schema-diff' });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
    const log = await dataSource.driver.createSchemaBuilder().log();
    return log.upQueries.map((query) => query.query);
  } finally {
    await dataSource.destroy();
  }
}
