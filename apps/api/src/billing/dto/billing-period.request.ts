import { z } from 'zod';

/** A billing period: a Seoul calendar month written YYYY-MM. */
export const billingPeriod = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, {
  message: 'must be a month written YYYY-MM (a billing period, e.g. 2026-05)',
});

export const periodParams = z.strictObject({ period: billingPeriod });
export type PeriodParams = z.infer<typeof periodParams>;

export const listPeriodsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(120).default(24),
  /** The last period of the previous page (periods come newest first). */
  cursor: billingPeriod.optional(),
});
export type ListPeriodsQuery = z.infer<typeof listPeriodsQuery>;
