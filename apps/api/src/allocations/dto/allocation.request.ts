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

/** Why an admin suspends an allocation: shown to the project and kept as the allocation's status reason. */
export const suspendAllocationRequest = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(3)
    .max(500)
    .regex(/^[^\p{Cc}]*$/u, { message: 'must not contain control characters' }),
});
export type SuspendAllocationRequest = z.infer<typeof suspendAllocationRequest>;

/** Resuming needs no body; a note for the project may be given. */
export const resumeAllocationRequest = z
  .strictObject({
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .regex(/^[^\p{Cc}]*$/u, { message: 'must not contain control characters' })
      .optional(),
  })
  .optional();
export type ResumeAllocationRequest = z.infer<typeof resumeAllocationRequest>;
