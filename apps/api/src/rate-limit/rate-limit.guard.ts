import {
  HttpException,
  HttpStatus,
  Injectable,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { errorBody } from '../http/error-body.js';
import { RATE_LIMIT_GROUP, type RateLimitGroup } from './rate-limit.decorators.js';
import { RateLimiters } from './rate-limiters.js';
import type { LimitedRequest } from './rate-limits.js';

/**
 * Global guard after the AuthGuard (per-principal limits know the principal): a request over a limit
 * gets 429, `Retry-After` in seconds and the API.md error body naming the limit. It runs before
 * validation, so refused requests count too.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiters: RateLimiters,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const group = this.reflector.getAllAndOverride<RateLimitGroup | undefined>(RATE_LIMIT_GROUP, [
      context.getHandler(),
      context.getClass(),
    ]);
    const refusal = await this.limiters.consume(context.switchToHttp().getRequest<LimitedRequest>(), group);
    if (!refusal) return true;
    const { definition, retryAfterSeconds } = refusal;
    context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(retryAfterSeconds));
    throw new HttpException(
      errorBody('RATE_LIMITED', definition.message(definition.points, definition.windowSeconds), {
        limit: definition.name,
        allowed: definition.points,
        windowSeconds: definition.windowSeconds,
        retryAfterSeconds,
      }),
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
