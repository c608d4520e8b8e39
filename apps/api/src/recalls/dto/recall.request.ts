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

/**
 * Confirming or dismissing takes no body: what is returned — and for a reserved allocation how many
 * and which servers are released — follows from the proposal. Any field is refused (400), so a
 * client that expects to choose servers or amounts learns it cannot.
 */
export const decideRecallRequest = z.strictObject({}).optional();
export type DecideRecallRequest = z.infer<typeof decideRecallRequest>;
