import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { DomainError } from '#domain';
import type { ApiTokenScope, Principal, Role } from './principal.js';

export const IS_PUBLIC = 'gpupool:public';
export const REQUIRED_ROLES = 'gpupool:roles';
export const REQUIRED_SCOPES = 'gpupool:scopes';

/** No authentication needed (login, health, docs). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The user must hold one of these roles (API tokens never do). */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_ROLES, roles);

/** API tokens with one of these scopes may call the route (users are judged by roles and membership). */
export const Scopes = (...scopes: ApiTokenScope[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_SCOPES, scopes);

export const MACHINES_ONLY = 'gpupool:machines-only';

/**
 * Only API tokens (cluster agents, meters) with the route's @Scopes() may call it: a signed-in
 * person never does, whatever their roles — metered usage is a fact a cluster reports, not an entry
 * someone types.
 */
export const MachinesOnly = (): MethodDecorator & ClassDecorator => SetMetadata(MACHINES_ONLY, true);

export interface AuthenticatedRequest {
  principal?: Principal;
  id?: string | number | object;
}

export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal => {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.principal) throw new DomainError('unauthenticated', 'UNAUTHENTICATED', 'Sign in first.');
    return request.principal;
  },
);

/** The request id (also on every log line of the request), for audit events. */
export const RequestId = createParamDecorator((_data: unknown, context: ExecutionContext): string | null => {
  const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
  return typeof request.id === 'string' ? request.id : null;
});
