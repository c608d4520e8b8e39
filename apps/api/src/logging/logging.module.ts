import {
  Global,
  Inject,
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import type { HttpLogger } from 'pino-http';
import type { GpupoolConfig } from '#config';
import { createHttpLogger, requestLoggingMiddleware } from './http-logger.js';
import { PinoLoggerService } from './pino-logger.service.js';

const HTTP_LOGGER = Symbol('HTTP_LOGGER');

/**
 * Request logs and Nest's logger on one pino instance per application (`app.useLogger(app.get(
 * PinoLoggerService))`). `{/*splat}` matches every path, the root included, without the warning
 * Express 5 routing gives for a bare `*`.
 */
@Global()
@Module({})
export class LoggingModule implements NestModule {
  static forRoot(config: GpupoolConfig): DynamicModule {
    const httpLogger = createHttpLogger(config);
    return {
      module: LoggingModule,
      providers: [
        { provide: HTTP_LOGGER, useValue: httpLogger },
        { provide: PinoLoggerService, useValue: new PinoLoggerService(httpLogger.logger) },
      ],
      exports: [PinoLoggerService],
    };
  }

  constructor(@Inject(HTTP_LOGGER) private readonly httpLogger: HttpLogger) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(requestLoggingMiddleware(this.httpLogger))
      .forRoutes({ path: '{/*splat}', method: RequestMethod.ALL });
  }
}
