import { z } from 'zod';
import { ORGANIZATION_TYPES } from '#domain';
import { paginationQuery } from '../../common/pagination.js';
import { KOREAN_REGIONS } from '../regions.js';

export const listOrganizationsQuery = z.strictObject({
  ...paginationQuery,
  type: z.enum(ORGANIZATION_TYPES).optional(),
  region: z.enum(KOREAN_REGIONS).optional(),
});
export type ListOrganizationsQuery = z.infer<typeof listOrganizationsQuery>;
