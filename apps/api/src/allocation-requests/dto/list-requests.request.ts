import { z } from 'zod';
import { REQUEST_STATES } from '#domain';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';

export const listRequestsQuery = z.strictObject({
  status: z.enum(REQUEST_STATES).optional(),
  programId: uuidParam.optional(),
  projectId: uuidParam.optional(),
  /** `created`: newest first · `score`: best average weighted review score first (rankByScore). */
  sort: z.enum(['created', 'score']).default('created'),
  ...paginationQuery,
});
export type ListRequestsQuery = z.infer<typeof listRequestsQuery>;
