import 'reflect-metadata';
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityApplicationModule } from '#application';
import type { GpupoolConfig } from '#config';
import { dataSourceOptions, PersistenceModule } from '#persistence';
import { CoreModule } from '../common/core.module.js';

/**
 * What the one-shot identity commands (bootstrap admin, simulator token) compose: the API's config
 * and credentials, one database connection with the API's options, PersistenceModule and the
 * identity use cases. No HTTP, no queues, no logger (agent-token's stdout is its token alone).
 */
@Module({})
class IdentityCliModule {
  static forRoot(config: GpupoolConfig, applicationName: string): DynamicModule {
    return {
      module: IdentityCliModule,
      imports: [
        CoreModule.forRoot(config),
        TypeOrmModule.forRoot({
          ...dataSourceOptions({ url: config.DATABASE_URL, poolSize: 1, applicationName }),
          autoLoadEntities: false,
          // A command fails at once when the database is unreachable, as a hand-built one did.
          retryAttempts: 0,
        }),
        PersistenceModule,
        IdentityApplicationModule,
      ],
    };
  }
}

/** Runs `work` in a Nest application context over the identity modules, closed afterwards. */
export async function withIdentityContext<T>(
  config: GpupoolConfig,
  applicationName: string,
  work: (context: INestApplicationContext) => Promise<T>,
): Promise<T> {
  const context = await NestFactory.createApplicationContext(
    IdentityCliModule.forRoot(config, applicationName),
    { logger: false, abortOnError: false },
  );
  try {
    return await work(context);
  } finally {
    await context.close();
  }
}
