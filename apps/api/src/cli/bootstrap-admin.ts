import { hash } from '@node-rs/argon2';
import type { GpupoolConfig } from '#config';
import { createDataSource, UserEntity } from '#persistence';

/**
 * Creates the bootstrap admin from GPUPOOL_ADMIN_EMAIL / GPUPOOL_ADMIN_PASSWORD when no user has
 * that email. Never changes an existing account (a password changed later stays changed).
 */
export async function bootstrapAdmin(config: GpupoolConfig): Promise<{ created: boolean; userId: string }> {
  const dataSource = createDataSource({
    url: config.DATABASE_URL,
    poolSize: 1,
    applicationName: 'gpupool-bootstrap',
  });
  await dataSource.initialize();
  try {
    const users = dataSource.getRepository(UserEntity);
    const email = config.GPUPOOL_ADMIN_EMAIL.toLowerCase();
    const existing = await users.findOne({ where: { email } });
    if (existing) return { created: false, userId: existing.id };
    const inserted = await users
      .createQueryBuilder()
      .insert()
      .values({
        email,
        name: 'gpupool administrator',
        passwordHash: await hash(config.GPUPOOL_ADMIN_PASSWORD),
        roles: ['admin'],
      })
      .orIgnore()
      .returning(['id'])
      .execute();
    const row = (inserted.raw as { id: string }[])[0];
    if (row) return { created: true, userId: row.id };
    const raced = await users.findOneOrFail({ where: { email } });
    return { created: false, userId: raced.id };
  } finally {
    await dataSource.destroy();
  }
}
