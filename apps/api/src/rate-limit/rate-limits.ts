import { createHash } from 'node:crypto';
import type { GpupoolConfig } from '#config';
import type { AuthenticatedRequest } from '../auth/decorators.js';
import type { RateLimitGroup } from './rate-limit.decorators.js';

export interface LimitedRequest extends AuthenticatedRequest {
  method: string;
  ip?: string;
  body?: unknown;
}

/** The named limits of gpupool. */
export type RateLimitName = 'login-account' | 'login-address' | 'token-creation' | 'writes';

/** One limit: how many requests in which window, whom it counts, and what the person who hit it is told. */
export interface RateLimitDefinition {
  name: RateLimitName;
  points: number;
  windowSeconds: number;
  /** Once over the limit, refused this long from then on (default: until the window ends). */
  blockSeconds?: number;
  /** The tracker the request is counted against; undefined when the limit does not apply to it. */
  trackerOf(request: LimitedRequest, group: RateLimitGroup | undefined): string | undefined;
  message(points: number, windowSeconds: number): string;
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The account a sign-in names, as the login use case matches it; undefined when the body has none. */
function loginAccount(request: LimitedRequest): string | undefined {
  const body = request.body;
  if (typeof body !== 'object' || body === null || !('email' in body)) return undefined;
  const email = body.email;
  return typeof email === 'string' && email.trim() !== '' ? email.trim().toLowerCase() : undefined;
}

function principalOf(request: LimitedRequest): string | undefined {
  const principal = request.principal;
  if (!principal) return undefined;
  return principal.kind === 'user' ? `user:${principal.userId}` : `token:${principal.tokenId}`;
}

function describeWindow(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? 'an hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return seconds === 60 ? 'a minute' : `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

/** The limits, from the config. */
export function rateLimitDefinitions(config: GpupoolConfig): RateLimitDefinition[] {
  const loginWindow = config.RATE_LIMIT_LOGIN_WINDOW_SECONDS;
  return [
    {
      name: 'login-account',
      points: config.RATE_LIMIT_LOGIN_PER_ACCOUNT,
      windowSeconds: loginWindow,
      blockSeconds: loginWindow,
      trackerOf: (request, group) => (group === 'login' ? loginAccount(request) : undefined),
      message: (points, window) =>
        `Too many sign-in attempts for this account (at most ${points} in ${describeWindow(window)}). ` +
        'Wait before trying again; if the password is lost, ask your administrator to reset it.',
    },
    {
      name: 'login-address',
      points: config.RATE_LIMIT_LOGIN_PER_ADDRESS,
      windowSeconds: loginWindow,
      blockSeconds: loginWindow,
      trackerOf: (request, group) => (group === 'login' ? (request.ip ?? 'unknown') : undefined),
      message: (points, window) =>
        `Too many sign-in attempts from your network address (at most ${points} in ${describeWindow(window)}). ` +
        'Wait before trying again.',
    },
    {
      name: 'token-creation',
      points: config.RATE_LIMIT_TOKEN_CREATIONS_PER_HOUR,
      windowSeconds: 3600,
      trackerOf: (request, group) => (group === 'token-creation' ? principalOf(request) : undefined),
      message: (points, window) =>
        `Too many API tokens created (at most ${points} in ${describeWindow(window)}). ` +
        'Reuse or revoke existing tokens, or wait.',
    },
    {
      name: 'writes',
      points: config.RATE_LIMIT_WRITES_PER_MINUTE,
      windowSeconds: 60,
      trackerOf: (request, group) =>
        READS.has(request.method) || group === 'ingest' ? undefined : principalOf(request),
      message: (points, window) =>
        `Too many writes from this account (at most ${points} in ${describeWindow(window)}). ` +
        'Slow down and retry after the wait; a request sent with an Idempotency-Key is safe to repeat.',
    },
  ];
}

/** Trackers are stored hashed: no email address or client address in Redis keys. */
export function trackerKey(tracker: string): string {
  return createHash('sha256').update(tracker).digest('base64url');
}
