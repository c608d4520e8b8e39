import { writeFileSync } from 'node:fs';
import { configFrom } from '#config';
import { createApiApp } from '../bootstrap.js';
import { buildOpenApiDocument } from '../bootstrap.js';

/**
 * `npm run openapi`: writes docs/openapi.json from the running module graph (no server, no
 * database queries). The committed file is the published contract; a test fails when it drifts.
 */
async function main(): Promise<void> {
  const app = await createApiApp(configFrom({ LOG_LEVEL: 'silent' }), { logs: false });
  try {
    const document = buildOpenApiDocument(app);
    writeFileSync(process.argv[2] ?? 'docs/openapi.json', JSON.stringify(document, null, 2) + '\n');
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `openapi failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
