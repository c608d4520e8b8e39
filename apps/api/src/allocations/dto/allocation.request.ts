import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';

export const ALLOCATION_STATUSES = ['active', 'exhausted', 'expired', 'suspended'] as const;

export const listAllocationsQuery = z.strictObject({
  ...paginationQuery,
  projectId: uuidParam.optional(),
  programId: uuidParam.optional(),
  status: z.enum(ALLOCATION_STATUSES).optional(),
});
export type ListAllocationsQuery = z.infer<typeof listAllocationsQuery>;
