import { z } from 'zod';
import { formatTaxIdentity, ORGANIZATION_TYPES, type OrganizationType, type TaxIdentityKind } from '#domain';
import type { OrganizationEntity } from '#persistence';
import { KOREAN_REGIONS, type KoreanRegion } from '../regions.js';
import { pageResponse } from './fields.js';

export const organizationResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  type: z.enum(ORGANIZATION_TYPES),
  region: z.enum(KOREAN_REGIONS),
  capitalArea: z.boolean(),
  taxIdKind: z.enum(['business_registration_number', 'nonprofit_unique_number']).nullable(),
  /** Printed as on the registration certificate, 123-45-67890. */
  businessRegistrationNumber: z.string().nullable(),
  createdAt: z.iso.datetime(),
});
export type OrganizationResponse = z.infer<typeof organizationResponse>;

export const organizationPageResponse = pageResponse(organizationResponse);

export function toOrganizationResponse(row: OrganizationEntity): OrganizationResponse {
  return {
    id: row.id,
    name: row.name,
    type: row.type as OrganizationType,
    region: row.region as KoreanRegion,
    capitalArea: row.capitalArea,
    taxIdKind: row.taxIdKind as TaxIdentityKind | null,
    businessRegistrationNumber: row.taxId === null ? null : formatTaxIdentity(row.taxId),
    createdAt: row.createdAt.toISOString(),
  };
}
