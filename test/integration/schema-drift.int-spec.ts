import { pendingSchemaChanges } from '../../libs/persistence/src/index.js';
import { createTestDatabase } from '../support/database.js';

describe('entities and migrations', () => {
  it('agree: after all migrations the entities need no schema change', async () => {
    const database = await createTestDatabase('drift');
    try {
      // The template is already migrated; running migrations again must be a no-op, and the
      // schema builder must find nothing to change.
      const pending = await pendingSchemaChanges(database.url);
      expect(pending).toEqual([]);
    } finally {
      await database.drop();
    }
  });
});
