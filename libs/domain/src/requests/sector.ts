import type { OrganizationType } from '../organizations/organization-type.js';
import { SECTORS, type Sector } from '../planning/types.js';

/**
 * The part of the government plan (50% national projects, 30% industry, 20% academia) a request
 * counts toward when it does not name one: universities are academia; research institutes and
 * public bodies run national projects; companies of every size are industry.
 */
const SECTOR_OF_ORGANIZATION_TYPE: Readonly<Record<OrganizationType, Sector>> = {
  university: 'academia',
  research_institute: 'national',
  public: 'national',
  startup: 'industry',
  youth_startup: 'industry',
  sme: 'industry',
  enterprise: 'industry',
};

export function sectorForOrganizationType(type: OrganizationType): Sector {
  return SECTOR_OF_ORGANIZATION_TYPE[type];
}

export function isSector(value: unknown): value is Sector {
  return typeof value === 'string' && (SECTORS as readonly string[]).includes(value);
}

/** The request's own sector when it names one (allocation_requests.sector), else its organization type's. */
export function requestSector(
  declared: string | null | undefined,
  organizationType: OrganizationType,
): Sector {
  return isSector(declared) ? declared : sectorForOrganizationType(organizationType);
}
