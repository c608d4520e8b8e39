import type { LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { requestLogger } from './http-logger.js';

/**
 * Nest's logger on pino: `new Logger('x').warn(...)` anywhere in the API becomes a JSON line with
 * `context: 'x'`, written through the request's logger (so with its `requestId`) while serving one.
 */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly root: Logger) {}

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.write('trace', message, optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.write('debug', message, optionalParams);
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    this.write('info', message, optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.write('warn', message, optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    this.write('error', message, optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.write('fatal', message, optionalParams);
  }

  /** Nest passes the context (a `Logger`'s name) as the last parameter, when there is one. */
  private write(level: Level, message: unknown, optionalParams: unknown[]): void {
    const logger = requestLogger.getStore() ?? this.root;
    const fields: Record<string, unknown> = {};
    let params = optionalParams;
    if (params.length > 0) {
      fields.context = params.at(-1);
      params = params.slice(0, -1);
    }
    if (typeof message === 'object' && message !== null) {
      if (message instanceof Error) fields.err = message;
      else Object.assign(fields, message);
      logger[level](fields, ...(params as [string?, ...unknown[]]));
    } else if (level === 'error' && isStackTrace(message, params)) {
      // Nest's own exception handlers call error(message, stack, context).
      const error = new Error(message);
      error.stack = params[0] as string;
      logger[level]({ ...fields, err: error });
    } else {
      logger[level](fields, String(message), ...params);
    }
  }
}

function isStackTrace(message: unknown, params: unknown[]): message is string {
  return (
    typeof message === 'string' &&
    params.length === 1 &&
    typeof params[0] === 'string' &&
    /\n\s*at /.test(params[0])
  );
}
