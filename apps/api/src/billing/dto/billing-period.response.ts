import { z } from 'zod';
import { BILLING_PERIOD_STATES } from '#domain';
import { amountsResponse } from './amounts.response.js';

export const billingPeriodResponse = z.object({
  period: z.string(),
  /** open (no close yet) → closing → closed (never changes again). */
  status: z.enum(BILLING_PERIOD_STATES),
  startsAt: z.iso.datetime(),
  endsAt: z.iso.datetime(),
  closingStartedAt: z.iso.datetime().nullable(),
  closedAt: z.iso.datetime().nullable(),
  closedBy: z.uuid().nullable(),
  lineCount: z.int().nullable(),
  /** Totals of the closed period's lines (for a finance user of an agency: that agency's lines). */
  totals: amountsResponse.nullable(),
});
export type BillingPeriodResponse = z.infer<typeof billingPeriodResponse>;

export const billingPeriodPageResponse = z.object({
  items: z.array(billingPeriodResponse),
  nextCursor: z.string().nullable(),
});

export const billingCloseResponse = z.object({
  id: z.uuid(),
  period: z.string(),
  /** queued → running → succeeded | failed. */
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  /** Where the close is: queued, closing (pricing and writing in one transaction), done or failed. */
  phase: z.string(),
  requestedBy: z.uuid(),
  requestId: z.string().nullable(),
  attempts: z.int(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  /** Once succeeded: what the close billed (zeros and `closedByThisRecord: false` if it found the period closed). */
  result: z
    .object({
      lineCount: z.int(),
      correctionLines: z.int(),
      chargedPieces: z.int(),
      creditedPieces: z.int(),
      refundedGpuSeconds: z.string(),
      closedByThisRecord: z.boolean(),
    })
    .nullable(),
  /** Where to poll it. */
  href: z.string(),
});
export type BillingCloseResponse = z.infer<typeof billingCloseResponse>;
