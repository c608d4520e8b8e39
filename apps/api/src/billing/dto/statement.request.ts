import { z } from 'zod';
import { STATEMENT_GROUPINGS } from '#domain';
import { uuidParam } from '../../common/ids.js';
import { agencyCode } from '../../programs/dto/agency.request.js';
import { billingPeriod } from './billing-period.request.js';

export const statementsQuery = z.strictObject({
  /** A closed billing period, YYYY-MM. */
  period: billingPeriod,
  groupBy: z.enum(STATEMENT_GROUPINGS).default('project'),
  /** One agency's lines (a finance user of an agency always gets theirs). */
  agencyCode: agencyCode.optional(),
  programId: uuidParam.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: z.string().max(200).optional(),
});
export type StatementsQuery = z.infer<typeof statementsQuery>;

export const statementsPreviewQuery = statementsQuery.extend({
  /** An open billing period that has started, YYYY-MM; default the current month (Asia/Seoul). */
  period: billingPeriod.optional(),
});
export type StatementsPreviewQuery = z.infer<typeof statementsPreviewQuery>;
