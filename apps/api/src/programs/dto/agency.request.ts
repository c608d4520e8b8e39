import { z } from 'zod';
import { paginationQuery } from '../../common/pagination.js';

/** Agency codes are short upper-case identifiers such as MSIT or NIPA. */
export const agencyCode = z.string().regex(/^[A-Z][A-Z0-9_]{1,19}$/, {
  message: 'must be 2–20 upper-case letters, digits or "_", starting with a letter (e.g. MSIT)',
});

export const createAgencyRequest = z.strictObject({
  code: agencyCode,
  name: z.string().trim().min(1).max(200),
});
export type CreateAgencyRequest = z.infer<typeof createAgencyRequest>;

export const listAgenciesQuery = z.strictObject({ ...paginationQuery });
export type ListAgenciesQuery = z.infer<typeof listAgenciesQuery>;
