import { BootstrapAdminUseCase } from '#application';
import type { GpupoolConfig } from '#config';
import { createDataSource, TypeormUserRepository } from '#persistence';
import { CredentialsService } from '../auth/credentials.service.js';

/**
 * Creates the bootstrap admin from GPUPOOL_ADMIN_EMAIL / GPUPOOL_ADMIN_PASSWORD when no user has
 * that email. Never changes an existing account (a password changed later stays changed).
 * The use case is composed by hand: one connection, no Nest container for a one-shot command.
 */
export async function bootstrapAdmin(config: GpupoolConfig): Promise<{ created: boolean; userId: string }> {
  const dataSource = createDataSource({
    url: config.DATABASE_URL,
    poolSize: 1,
    applicationName: 'gpupool-bootstrap',
  });
  await dataSource.initialize();
  try {
    const useCase = new BootstrapAdminUseCase(
      new TypeormUserRepository(dataSource),
      new CredentialsService(config),
    );
    return await useCase.execute({
      email: config.GPUPOOL_ADMIN_EMAIL,
      password: config.GPUPOOL_ADMIN_PASSWORD,
    });
  } finally {
    await dataSource.destroy();
  }
}
