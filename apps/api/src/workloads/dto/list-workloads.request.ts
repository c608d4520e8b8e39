import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';
import { WORKLOAD_STATES } from '#domain';

export const listWorkloadsQuery = z.strictObject({
  ...paginationQuery,
  allocationId: uuidParam.optional(),
  projectId: uuidParam.optional(),
  batchId: uuidParam.optional(),
  state: z.enum(WORKLOAD_STATES).optional(),
});
export type ListWorkloadsQuery = z.infer<typeof listWorkloadsQuery>;
