import { BadRequestException, NotFoundException, type ArgumentsHost } from '@nestjs/common';
import { DomainError } from '#domain';
import { DomainErrorFilter, isServiceUnavailable, statusForKind } from './domain-error.filter.js';

function hostFor(): {
  host: ArgumentsHost;
  sent: { status?: number; body?: unknown; headers: Record<string, string> };
} {
  const sent: { status?: number; body?: unknown; headers: Record<string, string> } = { headers: {} };
  const response = {
    headersSent: false,
    setHeader(name: string, value: string) {
      sent.headers[name] = value;
    },
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: unknown) {
      sent.body = body;
      return this;
    },
  };
  const request = { method: 'GET', path: '/v1/x' };
  const host = {
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
  } as unknown as ArgumentsHost;
  return { host, sent };
}

describe('DomainErrorFilter', () => {
  const filter = new DomainErrorFilter();

  it('maps every domain error kind to its status', () => {
    expect(statusForKind('invalid')).toBe(400);
    expect(statusForKind('unauthenticated')).toBe(401);
    expect(statusForKind('forbidden')).toBe(403);
    expect(statusForKind('not_found')).toBe(404);
    expect(statusForKind('conflict')).toBe(409);
    expect(statusForKind('rule_violated')).toBe(422);
  });

  it('answers a domain error with its code, message and details', () => {
    const { host, sent } = hostFor();
    filter.catch(
      new DomainError('rule_violated', 'ELIGIBILITY_FAILED', 'Two rules failed', [{ rule: 'A' }]),
      host,
    );
    expect(sent).toEqual({
      headers: {},
      status: 422,
      body: { error: { code: 'ELIGIBILITY_FAILED', message: 'Two rules failed', details: [{ rule: 'A' }] } },
    });
  });

  it('answers an unexpected error with 500 and an errorId, never the internal message', () => {
    const { host, sent } = hostFor();
    filter.catch(new Error('connection string postgres://secret'), host);
    expect(sent.status).toBe(500);
    const body = sent.body as { error: { code: string; message: string; errorId: string } };
    expect(body.error.code).toBe('INTERNAL_ERROR');
    expect(body.error.errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('answers 503 with Retry-After when PostgreSQL or Redis cannot be reached, never 500', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    const wrapped = Object.assign(new Error('query failed'), { driverError: shutdown });
    const cases: unknown[] = [
      refused,
      wrapped,
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      Object.assign(new Error('Reached the max retries per request limit (which is 1).'), {
        name: 'MaxRetriesPerRequestError',
      }),
      new Error('outer', { cause: Object.assign(new Error('x'), { code: '08006' }) }),
    ];
    for (const error of cases) {
      expect(isServiceUnavailable(error)).toBe(true);
      const { host, sent } = hostFor();
      filter.catch(error, host);
      expect(sent.status).toBe(503);
      expect(sent.headers['Retry-After']).toBe('5');
      expect((sent.body as { error: { code: string } }).error.code).toBe('SERVICE_UNAVAILABLE');
    }
    // A query the database refused for its content is a bug or bad input, not unavailability.
    expect(isServiceUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isServiceUnavailable(new Error('boom'))).toBe(false);
  });

  it('keeps the API.md shape for framework errors (unknown routes, body parser)', () => {
    const notFound = hostFor();
    filter.catch(new NotFoundException(), notFound.host);
    expect(notFound.sent.status).toBe(404);
    expect((notFound.sent.body as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const badJson = hostFor();
    const cause = Object.assign(new SyntaxError('Unexpected end'), {
      type: 'entity.parse.failed',
      status: 400,
    });
    filter.catch(new BadRequestException('Unexpected end', { cause }), badJson.host);
    expect(badJson.sent).toEqual({
      headers: {},
      status: 400,
      body: { error: { code: 'INVALID_JSON', message: 'The request body is not valid JSON.' } },
    });
  });
});
