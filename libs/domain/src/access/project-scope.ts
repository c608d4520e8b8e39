import { hasRole, type Principal } from './principal.js';

/**
 * Which projects a principal may see (invariant 7), as a value every query that lists
 * project-owned rows takes: admins see every project; a person sees the projects they are a
 * member or PI of (`piOnly` narrows it to the ones they lead); anything else sees none.
 * Repositories turn it into SQL in one place (`projectScopeCondition`, libs/persistence).
 */
export type ProjectScope =
  { kind: 'all' } | { kind: 'member'; userId: string; piOnly: boolean } | { kind: 'none' };

export function projectScopeOf(principal: Principal, options: { piOnly?: boolean } = {}): ProjectScope {
  if (hasRole(principal, 'admin')) return { kind: 'all' };
  if (principal.kind !== 'user') return { kind: 'none' };
  return { kind: 'member', userId: principal.userId, piOnly: options.piOnly ?? false };
}
