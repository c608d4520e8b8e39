import { hasRole, type Principal } from '../access/principal.js';
import { forbidden } from '../errors/domain-error.js';

/**
 * Who reads billing: admins and finance users not tied to an agency read everything; a finance user
 * of an agency reads that agency's statements and exports only; anyone else is refused (403).
 */
export type BillingScope = { kind: 'all' } | { kind: 'agency'; agencyCode: string };

export function billingScopeOf(principal: Principal): BillingScope {
  if (hasRole(principal, 'admin')) return { kind: 'all' };
  if (principal.kind === 'user' && principal.roles.includes('finance')) {
    return principal.agencyCode === null
      ? { kind: 'all' }
      : { kind: 'agency', agencyCode: principal.agencyCode };
  }
  throw forbidden('ROLE_REQUIRED', 'Billing is for finance users and admins.', {
    requiredRoles: ['finance', 'admin'],
  });
}

/**
 * The agency a request may cover: a finance user of an agency always gets theirs (naming another is
 * a 403); others get what they asked for (null: every agency).
 */
export function agencyInScope(scope: BillingScope, requested: string | undefined): string | null {
  if (scope.kind === 'all') return requested ?? null;
  if (requested !== undefined && requested !== scope.agencyCode) {
    throw forbidden(
      'AGENCY_OUT_OF_SCOPE',
      `You handle billing for agency ${scope.agencyCode} only; leave agencyCode out or give ${scope.agencyCode}.`,
      { agencyCode: requested, yourAgencyCode: scope.agencyCode },
    );
  }
  return scope.agencyCode;
}

/** A program's agency is billable by the scope: everything for `all`, its own agency's for `agency`. */
export function agencyVisibleTo(scope: BillingScope, agencyCode: string | null): boolean {
  return scope.kind === 'all' || agencyCode === scope.agencyCode;
}
