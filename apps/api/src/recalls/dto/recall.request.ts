import { z } from 'zod';
import { RECALL_PROPOSAL_STATUSES } from '#persistence';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';

export const listRecallProposalsQuery = z.strictObject({
  ...paginationQuery,
  programId: uuidParam.optional(),
  allocationId: uuidParam.optional(),
  projectId: uuidParam.optional(),
  status: z.enum(RECALL_PROPOSAL_STATUSES).optional(),
});
export type ListRecallProposalsQuery = z.infer<typeof listRecallProposalsQuery>;
