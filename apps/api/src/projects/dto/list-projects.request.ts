import { z } from 'zod';
import { paginationQuery } from '../../common/pagination.js';

export const listProjectsQuery = z.strictObject({
  ...paginationQuery,
  organizationId: z.uuid({ message: 'must be a UUID' }).optional(),
});
export type ListProjectsQuery = z.infer<typeof listProjectsQuery>;
