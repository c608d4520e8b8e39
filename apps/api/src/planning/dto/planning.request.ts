import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';

/** What-if plans at most this many requests at once (a program's whole pending list fits easily). */
export const MAX_WHAT_IF_REQUESTS = 5000;

export const whatIfRequest = z
  .strictObject({
    /** Pending requests (submitted or under review) whose reserved lines to plan, in this order. */
    requestIds: z.array(uuidParam).min(1).max(MAX_WHAT_IF_REQUESTS).optional(),
    /** The program's whole pending list (in submission order), or the program the requestIds must belong to. */
    programId: uuidParam.optional(),
  })
  .refine((body) => body.requestIds !== undefined || body.programId !== undefined, {
    message: 'give requestIds, programId or both',
  });
export type WhatIfRequest = z.infer<typeof whatIfRequest>;

export const waitlistQuery = z.strictObject({
  programId: uuidParam.optional(),
  gpuModel: z.string().min(1).max(64).optional(),
  ...paginationQuery,
});
export type WaitlistQuery = z.infer<typeof waitlistQuery>;

export const releaseRequest = z.strictObject({
  /** The nodes to give back; absent: every server of the reservation. */
  nodeIds: z.array(uuidParam).min(1).max(10_000).optional(),
  /** When they stop being held (ISO-8601, not in the past); absent: now. */
  at: z.iso
    .datetime({ offset: true, message: 'must be an ISO-8601 instant such as 2026-04-01T00:00:00Z' })
    .optional(),
  reason: z.string().trim().min(1).max(2000),
});
export type ReleaseRequest = z.infer<typeof releaseRequest>;

export const allocationIdParams = z.strictObject({ allocationId: uuidParam });
