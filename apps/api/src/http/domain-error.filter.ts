import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { DomainError, type DomainErrorKind } from '#domain';
import { errorBody, type ErrorBody } from './error-body.js';

/** The one place where domain error kinds become HTTP statuses. */
export function statusForKind(kind: DomainErrorKind): number {
  switch (kind) {
    case 'invalid':
      return HttpStatus.BAD_REQUEST;
    case 'unauthenticated':
      return HttpStatus.UNAUTHORIZED;
    case 'forbidden':
      return HttpStatus.FORBIDDEN;
    case 'not_found':
      return HttpStatus.NOT_FOUND;
    case 'conflict':
      return HttpStatus.CONFLICT;
    case 'rule_violated':
      return HttpStatus.UNPROCESSABLE_ENTITY;
  }
}

const codeForStatus: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'RULE_VIOLATED',
  429: 'TOO_MANY_REQUESTS',
};

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
  expose?: boolean;
  message?: string;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return (
    typeof error === 'object' &&
    error !== null &&
    'type' in error &&
    ('status' in error || 'statusCode' in error)
  );
}

/** Seconds a client is told to wait when a backing service is unreachable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

const UNREACHABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** PostgreSQL SQLSTATEs that mean "not reachable or not accepting work now", not "your request is wrong". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Connection is closed/i,
  /MaxRetriesPerRequestError|Reached the max retries per request limit/i,
  /Stream isn't writeable/i,
];

/**
 * Whether an error means PostgreSQL or Redis cannot be reached (or is shutting down / out of
 * connections) — a 503 the client may retry, not a bug (500). Looks through TypeORM's `driverError`
 * and `cause` chains.
 */
export function isServiceUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const { code, message, driverError, cause, name } = error as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
    name?: unknown;
  };
  if (typeof code === 'string') {
    if (UNREACHABLE_SOCKET_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))
      return true;
  }
  if (name === 'MaxRetriesPerRequestError') return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message)))
    return true;
  return isServiceUnavailable(driverError, depth + 1) || isServiceUnavailable(cause, depth + 1);
}

@Catch()
export class DomainErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const response = context.getResponse<Response>();
    const request = context.getRequest<Request>();
    const { status, body } = this.toResponse(exception, request);
    if (response.headersSent) return;
    if (status === 503) response.setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    response.status(status).json(body);
  }

  private toResponse(exception: unknown, request: Request): { status: number; body: ErrorBody } {
    if (exception instanceof DomainError) {
      return {
        status: statusForKind(exception.kind),
        body: errorBody(exception.code, exception.message, exception.details),
      };
    }
    const parserError =
      exception instanceof HttpException && isBodyParserError(exception.cause) ? exception.cause : exception;
    if (isBodyParserError(parserError)) return this.bodyParserResponse(parserError);
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status < 500) {
        const response = exception.getResponse();
        if (typeof response === 'object' && response !== null && 'error' in response) {
          const inner = response.error;
          if (typeof inner === 'object' && inner !== null && 'code' in inner)
            return { status, body: response as ErrorBody };
        }
        const message =
          status === 404
            ? `No route for ${request.method} ${request.path}`
            : this.messageOf(response, exception.message);
        return { status, body: errorBody(codeForStatus[status] ?? 'BAD_REQUEST', message) };
      }
    }
    const errorId = randomUUID();
    if (isServiceUnavailable(exception)) {
      this.logger.warn(
        { errorId, err: exception instanceof Error ? { message: exception.message } : exception },
        'backing service unavailable',
      );
      return {
        status: 503,
        body: errorBody(
          'SERVICE_UNAVAILABLE',
          `The service cannot reach its database or queue right now. Retry in ${UNAVAILABLE_RETRY_AFTER_SECONDS} ` +
            'seconds; a request sent with an Idempotency-Key is safe to repeat.',
          undefined,
          errorId,
        ),
      };
    }
    this.logger.error(
      {
        errorId,
        err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception,
      },
      'unhandled error',
    );
    return {
      status: 500,
      body: errorBody(
        'INTERNAL_ERROR',
        'Something went wrong on our side. Quote the errorId when you report it.',
        undefined,
        errorId,
      ),
    };
  }

  private bodyParserResponse(error: BodyParserError): { status: number; body: ErrorBody } {
    const status = error.status ?? error.statusCode ?? 400;
    if (error.type === 'entity.parse.failed') {
      return { status: 400, body: errorBody('INVALID_JSON', 'The request body is not valid JSON.') };
    }
    if (error.type === 'entity.too.large') {
      return {
        status: 413,
        body: errorBody('PAYLOAD_TOO_LARGE', 'The request body is larger than the API accepts.'),
      };
    }
    const clientStatus = status >= 400 && status < 500 ? status : 400;
    return {
      status: clientStatus,
      body: errorBody(
        codeForStatus[clientStatus] ?? 'BAD_REQUEST',
        error.message ?? 'The request body was refused.',
      ),
    };
  }

  private messageOf(response: string | object, fallback: string): string {
    if (typeof response === 'string') return response;
    const message = (response as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    if (Array.isArray(message)) return message.join('; ');
    return fallback;
  }
}
