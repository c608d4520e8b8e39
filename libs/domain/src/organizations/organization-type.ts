export const ORGANIZATION_TYPES = [
  'university',
  'research_institute',
  'public',
  'startup',
  'youth_startup',
  'sme',
  'enterprise',
] as const;
export type OrganizationType = (typeof ORGANIZATION_TYPES)[number];

export function isOrganizationType(value: unknown): value is OrganizationType {
  return typeof value === 'string' && (ORGANIZATION_TYPES as readonly string[]).includes(value);
}
