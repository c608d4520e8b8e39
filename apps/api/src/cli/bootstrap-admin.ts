import { BootstrapAdminUseCase } from '#application';
import type { GpupoolConfig } from '#config';
import { withIdentityContext } from './cli-context.js';

/**
 * Creates the bootstrap admin from GPUPOOL_ADMIN_EMAIL / GPUPOOL_ADMIN_PASSWORD when no user has
 * that email. Never changes an existing account (a password changed later stays changed).
 */
export function bootstrapAdmin(config: GpupoolConfig): Promise<{ created: boolean; userId: string }> {
  return withIdentityContext(config, 'gpupool-bootstrap', (context) =>
    context.get(BootstrapAdminUseCase).execute({
      email: config.GPUPOOL_ADMIN_EMAIL,
      password: config.GPUPOOL_ADMIN_PASSWORD,
    }),
  );
}
