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

export const closedPeriodResponse = billingPeriodResponse.extend({
  /** Lines carrying late usage of earlier periods or credits of refunded usage. */
  correctionLines: z.int(),
  /** Usage-record pieces charged and credited by this close. */
  chargedPieces: z.int(),
  creditedPieces: z.int(),
  /** Usage of the period not billed: its attempt failed through the infrastructure and was refunded. */
  refundedGpuSeconds: z.string(),
});
export type ClosedPeriodResponse = z.infer<typeof closedPeriodResponse>;

export const billingPeriodPageResponse = z.object({
  items: z.array(billingPeriodResponse),
  nextCursor: z.string().nullable(),
});
