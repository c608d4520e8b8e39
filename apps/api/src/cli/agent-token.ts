import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MintSimulatorTokenUseCase, SIMULATOR_TOKEN_NAME } from '#application';
import { loadConfig, type GpupoolConfig } from '#config';
import { withIdentityContext } from './cli-context.js';

export { SIMULATOR_TOKEN_NAME };

/**
 * The simulated cluster agent's API token (scope `agent`), created by the bootstrap admin. Secrets
 * are never stored, so each start revokes the older `simulator` tokens and mints a fresh one; the
 * returned secret goes to the simulator's environment only (MintSimulatorTokenUseCase).
 */
export function ensureSimulatorToken(config: GpupoolConfig): Promise<string> {
  return withIdentityContext(config, 'gpupool-agent-token', (context) =>
    context.get(MintSimulatorTokenUseCase).execute(config.GPUPOOL_ADMIN_EMAIL),
  );
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
