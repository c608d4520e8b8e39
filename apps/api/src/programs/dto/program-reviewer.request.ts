import { z } from 'zod';
import { paginationQuery } from '../../common/pagination.js';
import { uuidParam } from '../../common/ids.js';

export const assignReviewerRequest = z.strictObject({ userId: uuidParam });
export type AssignReviewerRequest = z.infer<typeof assignReviewerRequest>;

export const reviewerParams = z.strictObject({ id: uuidParam, userId: uuidParam });
export type ReviewerParams = z.infer<typeof reviewerParams>;

export const listReviewersQuery = z.strictObject({ ...paginationQuery });
export type ListReviewersQuery = z.infer<typeof listReviewersQuery>;
