import {
  formatTaxIdentity,
  type ApiTokenScope,
  type OrganizationType,
  type Role,
  type TaxIdentityKind,
} from '#domain';
import type { ApiTokenEntity, OrganizationEntity, UserEntity } from '#persistence';

/** A user as readers see it (never the password hash): the API's user response, the audit trail. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  organizationId: string | null;
  roles: Role[];
  agencyCode: string | null;
  active: boolean;
  hasPassword: boolean;
  createdAt: string;
}

export function userView(row: UserEntity): UserView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    organizationId: row.organizationId,
    roles: row.roles as Role[],
    agencyCode: row.agencyCode,
    active: row.active,
    hasPassword: row.passwordHash !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

export interface OrganizationView {
  id: string;
  name: string;
  type: OrganizationType;
  region: string;
  capitalArea: boolean;
  taxIdKind: TaxIdentityKind | null;
  businessRegistrationNumber: string | null;
  createdAt: string;
}

export function organizationView(row: OrganizationEntity): OrganizationView {
  return {
    id: row.id,
    name: row.name,
    type: row.type as OrganizationType,
    region: row.region,
    capitalArea: row.capitalArea,
    taxIdKind: row.taxIdKind as TaxIdentityKind | null,
    businessRegistrationNumber: row.taxId === null ? null : formatTaxIdentity(row.taxId),
    createdAt: row.createdAt.toISOString(),
  };
}

/** A token as listed: never the secret nor its hash. */
export interface ApiTokenView {
  id: string;
  name: string;
  scopes: ApiTokenScope[];
  tokenPrefix: string;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export function apiTokenView(row: ApiTokenEntity): ApiTokenView {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as ApiTokenScope[],
    tokenPrefix: row.tokenPrefix,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}
