import { z } from 'zod';
import { USAGE_GRANULARITIES, USAGE_GROUPINGS } from './usage-report.request.js';

const amount = {
  /** Exact integer GPU-seconds, as a decimal string. */
  gpuSeconds: z.string(),
  /** The same in GPU-hours, truncated to 6 decimals. */
  gpuHours: z.string(),
};

const usageItem = z.object({
  /** 'YYYY-MM-DD' (day) or 'YYYY-MM' (month), in Asia/Seoul. */
  period: z.string(),
  ...amount,
  /** Usage records that started in the period (a record crossing midnight counts on its first day). */
  records: z.int(),
});

export const allocationUsageResponse = z.object({
  allocationId: z.uuid(),
  granularity: z.enum(USAGE_GRANULARITIES),
  from: z.iso.date().nullable(),
  to: z.iso.date().nullable(),
  /** Periods with usage only, oldest first. */
  items: z.array(usageItem),
  total: z.object(amount),
});
export type AllocationUsageResponse = z.infer<typeof allocationUsageResponse>;

export const usageReportResponse = z.object({
  granularity: z.enum(USAGE_GRANULARITIES),
  groupBy: z.enum(USAGE_GROUPINGS).nullable(),
  from: z.iso.date().nullable(),
  to: z.iso.date().nullable(),
  /** Ordered by period, then key. */
  items: z.array(
    usageItem.extend({
      /** The allocation, project or program id, or the GPU model, per groupBy; null when not grouped. */
      key: z.string().nullable(),
    }),
  ),
  /** Over every page of the query, not only this one. */
  total: z.object(amount),
  nextCursor: z.string().nullable(),
});
export type UsageReportResponse = z.infer<typeof usageReportResponse>;
