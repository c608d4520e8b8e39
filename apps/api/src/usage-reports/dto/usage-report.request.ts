import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { gpuModel } from '../../programs/dto/program.request.js';

export const USAGE_GRANULARITIES = ['day', 'month'] as const;
export type UsageGranularity = (typeof USAGE_GRANULARITIES)[number];

export const USAGE_GROUPINGS = ['allocation', 'project', 'program', 'gpuModel'] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

/** A Seoul calendar day: usage is rolled up by Asia/Seoul days, and billing months are Seoul months. */
const seoulDate = z.iso.date({ message: 'must be a calendar date written YYYY-MM-DD (a day in Asia/Seoul)' });

const range = {
  /** First Seoul day included. */
  from: seoulDate.optional(),
  /** First Seoul day NOT included (exclusive), e.g. from=2026-05-01&to=2026-06-01 is May. */
  to: seoulDate.optional(),
  granularity: z.enum(USAGE_GRANULARITIES).default('day'),
};

/** `to` after `from`, reported with any other problem as long as both dates are themselves valid. */
function toAfterFrom<T extends z.ZodType<{ from?: string | undefined; to?: string | undefined }>>(schema: T) {
  return schema.refine(
    (query) => query.from === undefined || query.to === undefined || query.from < query.to,
    {
      path: ['to'],
      message: 'must be after from (from is inclusive, to exclusive)',
      when: (payload) =>
        !payload.issues.some((issue) => issue.path?.[0] === 'from' || issue.path?.[0] === 'to'),
    },
  );
}

export const allocationUsageQuery = toAfterFrom(z.strictObject({ ...range }));
export type AllocationUsageQuery = z.infer<typeof allocationUsageQuery>;

export const usageQuery = toAfterFrom(
  z.strictObject({
    ...range,
    /** Required unless the caller is an admin, operator or finance user. */
    projectId: uuidParam.optional(),
    programId: uuidParam.optional(),
    gpuModel: gpuModel.optional(),
    /** One item per period and group; left out: one item per period. */
    groupBy: z.enum(USAGE_GROUPINGS).optional(),
    limit: z.coerce.number().int().min(1).max(5000).default(1000),
    cursor: z.string().max(400).optional(),
  }),
);
export type UsageQuery = z.infer<typeof usageQuery>;
