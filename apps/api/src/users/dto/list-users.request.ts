import { z } from 'zod';
import { ROLES } from '../../auth/principal.js';
import { paginationQuery } from '../../common/pagination.js';

export const listUsersQuery = z.strictObject({
  ...paginationQuery,
  role: z.enum(ROLES).optional(),
  organizationId: z.uuid({ message: 'must be a UUID' }).optional(),
});
export type ListUsersQuery = z.infer<typeof listUsersQuery>;
