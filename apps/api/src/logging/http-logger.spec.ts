import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { createHttpLogger, requestLoggingMiddleware } from './http-logger.js';
import { PinoLoggerService } from './pino-logger.service.js';

function memoryLog(): { lines: Record<string, unknown>[]; write(line: string): void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) };
}

function exchange(url: string, headers: Record<string, string> = {}): [IncomingMessage, ServerResponse] {
  const request = new IncomingMessage(new Socket());
  request.method = 'GET';
  request.url = url;
  request.headers = headers;
  return [request, new ServerResponse(request)];
}

describe('request logging', () => {
  it('binds the request id to every line logged while serving the request, and to its request line', () => {
    const destination = memoryLog();
    const httpLogger = createHttpLogger({ LOG_LEVEL: 'info' }, destination);
    const nestLogger = new PinoLoggerService(httpLogger.logger);
    const [request, response] = exchange('/v1/things', {
      'x-request-id': 'abc-123',
      authorization: 'Bearer secret',
      cookie: 'session=secret',
    });

    requestLoggingMiddleware(httpLogger)(request, response, () => {
      nestLogger.warn({ errorId: 'e-1' }, 'something odd', 'http');
    });
    nestLogger.log('after the request', 'outside');
    response.writeHead(204).end();
    response.emit('finish');

    expect(response.getHeader('X-Request-Id')).toBe('abc-123');
    const [inside, outside, completed] = destination.lines;
    expect(inside).toMatchObject({
      level: 40,
      requestId: 'abc-123',
      context: 'http',
      errorId: 'e-1',
      msg: 'something odd',
    });
    expect(outside).toMatchObject({ level: 30, context: 'outside', msg: 'after the request' });
    expect(outside).not.toHaveProperty('requestId');
    expect(completed).toMatchObject({
      requestId: 'abc-123',
      req: { id: 'abc-123', method: 'GET', url: '/v1/things' },
      res: { statusCode: 204 },
      msg: 'request completed',
    });
    expect(completed?.req).toMatchObject({
      headers: { authorization: '[Redacted]', cookie: '[Redacted]' },
    });
  });

  it('replaces an X-Request-Id that is not a short token with a new UUID', () => {
    const httpLogger = createHttpLogger({ LOG_LEVEL: 'info' }, memoryLog());
    const [request, response] = exchange('/v1/things', { 'x-request-id': 'two words\n' });

    requestLoggingMiddleware(httpLogger)(request, response, () => undefined);

    expect(response.getHeader('X-Request-Id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect(request.id).toBe(response.getHeader('X-Request-Id'));
  });

  it('writes no request line for health checks', () => {
    const destination = memoryLog();
    const httpLogger = createHttpLogger({ LOG_LEVEL: 'info' }, destination);
    const [request, response] = exchange('/health/ready');

    requestLoggingMiddleware(httpLogger)(request, response, () => undefined);
    response.emit('finish');

    expect(destination.lines).toEqual([]);
  });

  it('is what a Nest Logger writes through once the application uses it', () => {
    const destination = memoryLog();
    const httpLogger = createHttpLogger({ LOG_LEVEL: 'info' }, destination);
    Logger.overrideLogger(new PinoLoggerService(httpLogger.logger));
    try {
      new Logger('probe').log('hello');
    } finally {
      Logger.overrideLogger(true);
    }
    expect(destination.lines).toEqual([
      expect.objectContaining({ level: 30, context: 'probe', msg: 'hello' }),
    ]);
  });
});
