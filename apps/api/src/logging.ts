import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { GpupoolConfig } from '#config';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** JSON logs; every line of a request carries its id (taken from X-Request-Id when sane, else new). */
export function loggerParams(config: GpupoolConfig): Params {
  return {
    pinoHttp: {
      level: config.LOG_LEVEL,
      genReqId: (request: IncomingMessage, response: ServerResponse) => {
        const header = request.headers['x-request-id'];
        const id = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
        response.setHeader('X-Request-Id', id);
        return id;
      },
      customProps: (request: IncomingMessage) => ({
        requestId: (request as IncomingMessage & { id?: unknown }).id,
      }),
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      autoLogging: { ignore: (request: IncomingMessage) => (request.url ?? '').startsWith('/health') },
    },
  };
}
