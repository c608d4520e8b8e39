import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { GpupoolConfig } from '#config';
import { dataSourceOptions, IdempotencyKeyRepository, PersistenceModule } from '#persistence';
import { AuthGuard } from './auth/auth.guard.js';
import { AccessModule, IdentityApplicationModule } from '#application';
import { QueueModule } from './common/queue.module.js';
import { CoreModule } from './common/core.module.js';
import { OperationsModule } from './health/operations.module.js';
import { DomainErrorFilter } from './http/domain-error.filter.js';
import { IdempotencyInterceptor } from './http/idempotency.interceptor.js';
import { createValidationPipe } from './http/validation.js';
import { LoggingModule } from './logging/logging.module.js';
import { FEATURE_MODULES } from './features.js';
import { RateLimitGuard } from './rate-limit/rate-limit.guard.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';

@Module({})
export class AppModule {
  static forRoot(config: GpupoolConfig): DynamicModule {
    const features: Type[] = FEATURE_MODULES;
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config),
        LoggingModule.forRoot(config),
        TypeOrmModule.forRoot({
          ...dataSourceOptions({
            url: config.DATABASE_URL,
            poolSize: config.DATABASE_POOL_SIZE,
            applicationName: 'gpupool-api',
          }),
          autoLoadEntities: false,
        }),
        PersistenceModule,
        QueueModule,
        AccessModule,
        // The global AuthGuard resolves principals through it.
        IdentityApplicationModule,
        OperationsModule,
        ...(config.RATE_LIMITS ? [RateLimitModule] : []),
        ...features,
      ],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        // After authentication: writes and token creation are counted per principal.
        ...(config.RATE_LIMITS ? [{ provide: APP_GUARD, useExisting: RateLimitGuard }] : []),
        { provide: APP_FILTER, useClass: DomainErrorFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        IdempotencyKeyRepository,
      ],
    };
  }
}
