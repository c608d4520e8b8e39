import { hasRole, type Principal } from './principal.js';
import type { ProjectScope } from './project-scope.js';

/**
 * Who may read which allocations (and their usage): admins, operators (who watch the pool's use) and
 * finance users not tied to an agency all of them; everyone else those of the projects they may see
 * (the project scope), plus — for finance users of an agency — those of the agency's programs.
 */
export type AllocationReadScope =
  { kind: 'all' } | { kind: 'scoped'; projects: ProjectScope; agencyCode: string | null };

/** `projects` is the principal's project scope (ProjectAccess.scopeOf). */
export function allocationReadScopeOf(principal: Principal, projects: ProjectScope): AllocationReadScope {
  if (hasRole(principal, 'admin') || hasRole(principal, 'operator')) return { kind: 'all' };
  if (principal.kind !== 'user') return { kind: 'scoped', projects, agencyCode: null };
  if (principal.roles.includes('finance')) {
    return principal.agencyCode === null
      ? { kind: 'all' }
      : { kind: 'scoped', projects, agencyCode: principal.agencyCode };
  }
  return { kind: 'scoped', projects, agencyCode: null };
}
