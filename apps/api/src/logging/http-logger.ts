import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DestinationStream, Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import type { GpupoolConfig } from '#config';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** The logger of the request being served: pino-http's child of the root, bound to the request id. */
export const requestLogger = new AsyncLocalStorage<Logger>();

/**
 * JSON logs: one line per request (health checks excepted), and every line logged while serving a
 * request carries its id, taken from X-Request-Id when sane, else new, and echoed in the response.
 */
export function createHttpLogger(
  config: Pick<GpupoolConfig, 'LOG_LEVEL'>,
  destination?: DestinationStream,
): HttpLogger {
  return pinoHttp(
    {
      level: config.LOG_LEVEL,
      genReqId: (request: IncomingMessage, response: ServerResponse) => {
        const header = request.headers['x-request-id'];
        const id = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
        response.setHeader('X-Request-Id', id);
        return id;
      },
      customProps: (request: IncomingMessage) => ({ requestId: request.id }),
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      autoLogging: { ignore: (request: IncomingMessage) => (request.url ?? '').startsWith('/health') },
    },
    destination,
  );
}

/** pino-http, then the rest of the request runs with the request's logger as its context. */
export function requestLoggingMiddleware(
  httpLogger: HttpLogger,
): (request: IncomingMessage, response: ServerResponse, next: () => void) => void {
  return (request, response, next) => {
    httpLogger(request, response, () => requestLogger.run(request.log, next));
  };
}
