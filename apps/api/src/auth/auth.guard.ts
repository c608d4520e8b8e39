import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PrincipalResolver } from '#application';
import { DomainError } from '#domain';
import { CredentialsService } from './credentials.service.js';
import { IS_PUBLIC, REQUIRED_ROLES, REQUIRED_SCOPES, type AuthenticatedRequest } from './decorators.js';
import type { ApiTokenScope, Principal, Role } from './principal.js';

interface HeaderRequest extends AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Global guard: every route needs a bearer token unless marked @Public(). Users are checked against
 * @Roles(); API tokens only reach routes that name one of their scopes with @Scopes().
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

    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets);
    const scopes = this.reflector.getAllAndOverride<ApiTokenScope[] | undefined>(REQUIRED_SCOPES, targets);
    if (principal.kind === 'api_token') {
      if (!scopes || !scopes.some((scope) => principal.scopes.includes(scope))) {
        throw new DomainError('forbidden', 'SCOPE_REQUIRED', 'This API token has no scope for this route.', {
          requiredScopes: scopes ?? [],
        });
      }
      return true;
    }
    if (roles && roles.length > 0 && !roles.some((role) => principal.roles.includes(role))) {
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
