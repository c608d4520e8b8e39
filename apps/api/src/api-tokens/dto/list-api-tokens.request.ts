import { z } from 'zod';
import { paginationQuery } from '../../common/pagination.js';

export const listApiTokensQuery = z.strictObject({
  ...paginationQuery,
  /** Revoked tokens are left out unless asked for. */
  includeRevoked: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
});
export type ListApiTokensQuery = z.infer<typeof listApiTokensQuery>;
