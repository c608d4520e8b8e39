import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PrincipalResolver } from '#application';
import { DomainError } from '#domain';
import { CredentialsService } from './credentials.service.js';
import {
  IS_PUBLIC,
  MACHINES_ONLY,
  REQUIRED_ROLES,
  REQUIRED_SCOPES,
  type AuthenticatedRequest,
} from './decorators.js';
import type { ApiTokenScope, Principal, Role } from './principal.js';

interface HeaderRequest extends AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Global guard: every route needs a bearer token unless marked @Public(). Users are checked against
 * @Roles() and never reach @MachinesOnly() routes; API tokens only reach routes that name one of their
 * scopes with @Scopes(). Every refusal says what the route does take.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly credentials: CredentialsService,
    private readonly principals: PrincipalResolver,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<HeaderRequest>();
    const principal = await this.authenticate(request);
    request.principal = principal;

    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets) ?? [];
    const scopes =
      this.reflector.getAllAndOverride<ApiTokenScope[] | undefined>(REQUIRED_SCOPES, targets) ?? [];
    const machinesOnly = this.reflector.getAllAndOverride<boolean>(MACHINES_ONLY, targets) === true;
    if (principal.kind === 'api_token') {
      if (scopes.length === 0) throw userSessionRequired(roles);
      if (!scopes.some((scope) => principal.scopes.includes(scope))) {
        throw new DomainError(
          'forbidden',
          'SCOPE_REQUIRED',
          `This route needs an API token with scope ${scopes.join(' or ')}; this token has ${
            principal.scopes.length > 0 ? principal.scopes.join(', ') : 'no scope'
          }.`,
          { requiredScopes: scopes, tokenScopes: principal.scopes },
        );
      }
      return true;
    }
    if (machinesOnly) {
      throw new DomainError(
        'forbidden',
        'API_TOKEN_REQUIRED',
        `This route is for machines: send a meter or cluster agent's API token with scope ${scopes.join(' or ')} ` +
          '(an admin or operator creates one with POST /v1/api-tokens). A signed-in session cannot call it, whatever its roles.',
        { requiredScopes: scopes },
      );
    }
    if (roles.length > 0 && !roles.some((role) => principal.roles.includes(role))) {
      throw new DomainError(
        'forbidden',
        'ROLE_REQUIRED',
        `This action needs the ${roles.join(' or ')} role.`,
        {
          requiredRoles: roles,
        },
      );
    }
    return true;
  }

  private async authenticate(request: HeaderRequest): Promise<Principal> {
    const header = request.headers.authorization;
    const value = Array.isArray(header) ? header[0] : header;
    const match = /^Bearer\s+(\S+)$/i.exec(value ?? '');
    if (!match?.[1]) {
      throw new DomainError(
        'unauthenticated',
        'UNAUTHENTICATED',
        'Send "Authorization: Bearer <token>"; get one from POST /v1/auth/login.',
      );
    }
    const token = match[1];
    if (this.credentials.isApiToken(token)) {
      // The resolver also records the token's use, at most once a minute (no write per request).
      const principal = await this.principals.apiToken(this.credentials.hashApiToken(token));
      // A token acts for the account that made it: a deactivated creator disables their tokens.
      if (!principal) {
        throw new DomainError('unauthenticated', 'INVALID_TOKEN', 'The API token is unknown or revoked.');
      }
      return principal;
    }
    const userId = await this.credentials.verifyAccessToken(token);
    const principal = userId ? await this.principals.user(userId) : null;
    if (!principal) {
      throw new DomainError(
        'unauthenticated',
        'INVALID_TOKEN',
        'The access token is invalid or expired; sign in again.',
      );
    }
    return principal;
  }
}

/** An API token on a route without @Scopes(): it takes people only (with one of `roles`, if any). */
function userSessionRequired(roles: readonly Role[]): DomainError {
  const who = roles.length > 0 ? `a signed-in user with the ${roles.join(' or ')} role` : 'a signed-in user';
  return new DomainError(
    'forbidden',
    'USER_SESSION_REQUIRED',
    `This route does not accept API tokens: it is called by ${who} (sign in with POST /v1/auth/login).`,
    { acceptsApiTokens: false, requiredRoles: [...roles] },
  );
}
