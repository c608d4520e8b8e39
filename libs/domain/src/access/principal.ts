/** Who is calling: a signed-in person, or an API token (scripts and cluster agents). */
export const ROLES = ['admin', 'reviewer', 'finance', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export const API_TOKEN_SCOPES = [
  'usage:write',
  'workloads:read',
  'workloads:write',
  'agent',
  'read',
] as const;
export type ApiTokenScope = (typeof API_TOKEN_SCOPES)[number];

export type Principal =
  | {
      kind: 'user';
      userId: string;
      email: string;
      roles: Role[];
      organizationId: string | null;
      agencyCode: string | null;
    }
  | { kind: 'api_token'; tokenId: string; scopes: ApiTokenScope[]; createdBy: string };

export function hasRole(principal: Principal, role: Role): boolean {
  return principal.kind === 'user' && principal.roles.includes(role);
}

export function actorOf(principal: Principal | undefined): { actorId: string | null; actorKind: string } {
  if (!principal) return { actorId: null, actorKind: 'system' };
  return principal.kind === 'user'
    ? { actorId: principal.userId, actorKind: 'user' }
    : { actorId: principal.tokenId, actorKind: 'api_token' };
}
