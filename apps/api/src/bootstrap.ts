import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { json } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { GpupoolConfig } from '#config';
import { AppModule } from './app.module.js';
import { PinoLoggerService } from './logging/pino-logger.service.js';

export function buildOpenApiDocument(app: NestExpressApplication): OpenAPIObject {
  const options = new DocumentBuilder()
    .setTitle('gpupool API')
    .setDescription(
      "Allocation and scheduling service of Korea's shared national GPU pool. Errors are " +
        '`{ "error": { "code", "message", "details" } }`; compute amounts are exact integers of GPU-seconds.',
    )
    .setVersion('1')
    .addBearerAuth()
    .build();
  return SwaggerModule.createDocument(app, options);
}

/** Builds the HTTP application (used by main.ts and the e2e tests). */
export async function createApiApp(
  config: GpupoolConfig,
  options: { logs?: boolean } = {},
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bufferLogs: true,
    bodyParser: false,
    abortOnError: false,
  });
  app.useLogger(options.logs === false ? false : app.get(PinoLoggerService));
  // Bodies above 2 MB are refused with 413, except usage batches (10,000 records of ~300 bytes).
  app.use('/v1/usage/records', json({ limit: '16mb', strict: true }));
  app.useBodyParser('json', { limit: '2mb', strict: true });
  app.set('query parser', 'simple');
  // The client address of per-address limits: X-Forwarded-For only from the configured proxies.
  app.set('trust proxy', config.TRUST_PROXY_HOPS);
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  await app.init();
  return app;
}
