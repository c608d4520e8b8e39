import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { from, Observable, switchMap } from 'rxjs';
import { DomainError } from '#domain';
import {
  IdempotencyKeyRepository,
  IdempotencyKeyTaken,
  withIdempotencyScope,
  type IdempotencyKeyEntity,
  type IdempotencyScope,
} from '#persistence';
import type { AuthenticatedRequest } from '../auth/decorators.js';

// The metadata key @HttpCode() writes (not exported from @nestjs/common's entry point).
const HTTP_CODE_METADATA = '__httpCode__';
const KEY_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** How long a duplicate waits for the first request's answer before it answers 409 "in progress". */
const ANSWER_WAIT_MS = 3000;
/** A reservation this old without an answer: the first request's work committed, its answer was lost. */
const ANSWER_LOST_AFTER_MS = 60_000;

/**
 * Writes sent with an Idempotency-Key header are carried out once. The key is reserved by the
 * request's first database transaction, in that transaction (TypeormTransactionRunner with
 * libs/persistence idempotency-scope), so the work can never commit without its key and a
 * concurrent duplicate waits on the key until the first commits. A duplicate then gets the first
 * answer (status and body) without running anything; while that answer is not stored yet, it waits
 * up to 3 s and otherwise answers 409 IDEMPOTENCY_IN_PROGRESS with Retry-After. The same key with a
 * different request is refused (409 IDEMPOTENCY_KEY_REUSED). Keys are per principal.
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
    const scope: IdempotencyScope = {
      principal:
        request.principal.kind === 'user'
          ? `user:${request.principal.userId}`
          : `token:${request.principal.tokenId}`,
      key,
      method: request.method,
      path: request.path,
      requestHash: createHash('sha256')
        .update(`${request.method} ${request.path}\n${JSON.stringify(request.body ?? null)}`)
        .digest('hex'),
      reserved: false,
    };
    const response = context.switchToHttp().getResponse<Response>();
    const statusCode =
      (Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) as number | undefined) ??
      (request.method === 'POST' ? 201 : 200);

    return from(this.answers.find(scope.principal, key)).pipe(
      switchMap((stored) =>
        stored ? from(this.replay(stored, scope, response)) : this.serve(scope, next, statusCode, response),
      ),
    );
  }

  /** Runs the handler with the key reservable by its transactions, then stores the answer. */
  private serve(
    scope: IdempotencyScope,
    next: CallHandler,
    statusCode: number,
    response: Response,
  ): Observable<unknown> {
    return new Observable<unknown>((subscriber) =>
      withIdempotencyScope(scope, () => next.handle().subscribe(subscriber)),
    )
      .pipe(
        switchMap(async (body: unknown) => {
          if (scope.reserved)
            await this.answers.storeAnswer(scope.principal, scope.key, statusCode, body ?? null);
          else
            await this.answers.remember({
              principal: scope.principal,
              key: scope.key,
              method: scope.method,
              path: scope.path,
              requestHash: scope.requestHash,
              statusCode,
              responseBody: body ?? null,
            });
          return body;
        }),
      )
      .pipe(
        // Another request reserved the key first (this one waited on it, then rolled back): its answer.
        (source) =>
          new Observable<unknown>((subscriber) =>
            source.subscribe({
              next: (value) => subscriber.next(value),
              complete: () => subscriber.complete(),
              error: (error: unknown) => {
                if (!(error instanceof IdempotencyKeyTaken)) {
                  if (!scope.reserved) return subscriber.error(error);
                  this.answers.forget(scope.principal, scope.key).then(
                    () => subscriber.error(error),
                    () => subscriber.error(error),
                  );
                  return;
                }
                this.answers
                  .find(scope.principal, scope.key)
                  .then((stored) => {
                    if (!stored) throw error;
                    return this.replay(stored, scope, response);
                  })
                  .then(
                    (body) => {
                      subscriber.next(body);
                      subscriber.complete();
                    },
                    (failure: unknown) => subscriber.error(failure),
                  );
              },
            }),
          ),
      );
  }

  /** The first answer to this key, once stored (waiting a little for one being written). */
  private async replay(
    stored: IdempotencyKeyEntity,
    scope: IdempotencyScope,
    response: Response,
  ): Promise<unknown> {
    if (stored.requestHash !== scope.requestHash) {
      throw new DomainError(
        'conflict',
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was already used for a different request; use a new key.',
      );
    }
    let row: IdempotencyKeyEntity | null = stored;
    const waitUntil = Date.now() + ANSWER_WAIT_MS;
    for (
      let pause = 10;
      row && row.statusCode === null && Date.now() < waitUntil;
      pause = Math.min(pause * 2, 250)
    ) {
      // Polling PostgreSQL (the source of truth) for the first request's answer, a few ms after its commit.
      await new Promise((resolve) => setTimeout(resolve, pause));
      row = await this.answers.find(scope.principal, scope.key);
    }
    if (!row) {
      throw new DomainError(
        'conflict',
        'IDEMPOTENCY_IN_PROGRESS',
        'A request with this Idempotency-Key was being carried out and did not finish; send it again.',
      );
    }
    if (row.statusCode === null) {
      if (Date.now() - row.createdAt.getTime() > ANSWER_LOST_AFTER_MS) {
        throw new DomainError(
          'conflict',
          'IDEMPOTENCY_ANSWER_LOST',
          'The first request with this Idempotency-Key was carried out, but its answer was not kept ' +
            '(the server stopped right after). Look the result up instead of sending it again.',
        );
      }
      response.setHeader('Retry-After', '1');
      throw new DomainError(
        'conflict',
        'IDEMPOTENCY_IN_PROGRESS',
        'A request with this Idempotency-Key is still being carried out; send it again in a moment ' +
          'to get its answer.',
      );
    }
    response.status(row.statusCode);
    return row.responseBody;
  }
}
