import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { from, of, switchMap, type Observable } from 'rxjs';
import { DomainError } from '#domain';
import { IdempotencyKeyRepository } from '#persistence';
import type { AuthenticatedRequest } from '../auth/decorators.js';

// The metadata key @HttpCode() writes (not exported from @nestjs/common's entry point).
const HTTP_CODE_METADATA = '__httpCode__';
const KEY_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Writes sent with an Idempotency-Key header are answered once: a replay with the same key, method,
 * path and body gets the first (successful) answer again without running anything; the same key
 * with a different request is refused. Keys are per principal.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly answers: IdempotencyKeyRepository) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<Request & AuthenticatedRequest>();
    const header = request.headers['idempotency-key'];
    if (!WRITE_METHODS.has(request.method) || header === undefined || !request.principal)
      return next.handle();
    const key = Array.isArray(header) ? (header[0] ?? '') : header;
    if (!KEY_PATTERN.test(key)) {
      throw new DomainError(
        'invalid',
        'INVALID_IDEMPOTENCY_KEY',
        'Idempotency-Key must be 8–128 characters of A–Z a–z 0–9 . _ : -',
      );
    }
    const principal =
      request.principal.kind === 'user'
        ? `user:${request.principal.userId}`
        : `token:${request.principal.tokenId}`;
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.path}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const response = context.switchToHttp().getResponse<{ status(code: number): unknown }>();
    const statusCode =
      (Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) as number | undefined) ??
      (request.method === 'POST' ? 201 : 200);

    return from(this.answers.find(principal, key)).pipe(
      switchMap((stored) => {
        if (stored) {
          if (stored.requestHash !== requestHash) {
            throw new DomainError(
              'conflict',
              'IDEMPOTENCY_KEY_REUSED',
              'This Idempotency-Key was already used for a different request; use a new key.',
            );
          }
          response.status(stored.statusCode);
          return of(stored.responseBody);
        }
        return next.handle().pipe(
          switchMap((body: unknown) =>
            from(
              this.answers
                .remember({
                  principal,
                  key,
                  method: request.method,
                  path: request.path,
                  requestHash,
                  statusCode,
                  responseBody: body ?? null,
                })
                .then(() => body),
            ),
          ),
        );
      }),
    );
  }
}
