import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IsNull } from 'typeorm';
import { loadConfig, type GpupoolConfig } from '#config';
import { ApiTokenEntity, createDataSource, TypeormAuditRepository, UserEntity } from '#persistence';
import { CredentialsService } from '../auth/credentials.service.js';

export const SIMULATOR_TOKEN_NAME = 'simulator';

/**
 * The simulated cluster agent's API token (scope `agent`), created by the bootstrap admin. Secrets
 * are never stored, so each start revokes the older `simulator` tokens and mints a fresh one; the
 * returned secret goes to the simulator's environment only. Serialized by an advisory lock, so two
 * launchers at once still leave exactly one live token each time one finishes.
 */
export async function ensureSimulatorToken(config: GpupoolConfig): Promise<string> {
  const dataSource = createDataSource({
    url: config.DATABASE_URL,
    poolSize: 1,
    applicationName: 'gpupool-agent-token',
  });
  await dataSource.initialize();
  try {
    const credentials = new CredentialsService(config);
    const audit = new TypeormAuditRepository(dataSource);
    return await dataSource.transaction(async (manager) => {
      await manager.query("SELECT pg_advisory_xact_lock(hashtext('gpupool:simulator-token'))");
      const admin = await manager
        .getRepository(UserEntity)
        .findOne({ where: { email: config.GPUPOOL_ADMIN_EMAIL.toLowerCase() } });
      if (!admin?.active) {
        throw new Error(
          `the bootstrap admin ${config.GPUPOOL_ADMIN_EMAIL} does not exist or is inactive: run the seed first`,
        );
      }
      const tokens = manager.getRepository(ApiTokenEntity);
      const older = await tokens.find({ where: { name: SIMULATOR_TOKEN_NAME, revokedAt: IsNull() } });
      const revokedAt = new Date();
      for (const token of older) {
        await tokens.update({ id: token.id }, { revokedAt });
        await audit.record(manager, {
          action: 'api_token.revoked',
          subjectType: 'api_token',
          subjectId: token.id,
          before: { name: token.name, revokedAt: null },
          after: { name: token.name, revokedAt, reason: 'replaced by a new simulator token at start' },
        });
      }
      const { token, tokenHash, tokenPrefix } = credentials.newApiToken();
      const row = await tokens.save(
        tokens.create({
          name: SIMULATOR_TOKEN_NAME,
          scopes: ['agent', 'usage:write'],
          tokenHash,
          tokenPrefix,
          createdBy: admin.id,
        }),
      );
      await audit.record(manager, {
        action: 'api_token.created',
        subjectType: 'api_token',
        subjectId: row.id,
        before: null,
        after: {
          name: SIMULATOR_TOKEN_NAME,
          scopes: ['agent', 'usage:write'],
          tokenPrefix,
          createdBy: admin.id,
        },
      });
      return token;
    });
  } finally {
    await dataSource.destroy();
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** `node dist/apps/api/src/cli/agent-token.js` prints the new token, and only it, on stdout. */
if (isMain()) {
  ensureSimulatorToken(loadConfig()).then(
    (token) => process.stdout.write(`${token}\n`),
    (error: unknown) => {
      process.stderr.write(
        `agent-token failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
