import { z } from 'zod';
import { BILLING_EXPORT_FORMATS } from '#persistence';
import { uuidParam } from '../../common/ids.js';
import { agencyCode } from '../../programs/dto/agency.request.js';
import { billingPeriod } from './billing-period.request.js';

export const createExportRequest = z.strictObject({
  /** A closed billing period, YYYY-MM. */
  period: billingPeriod,
  /** One agency's lines; a finance user of an agency always gets theirs. */
  agencyCode: agencyCode.optional(),
  /** One program's lines. */
  programId: uuidParam.optional(),
  format: z.enum(BILLING_EXPORT_FORMATS),
});
export type CreateExportRequest = z.infer<typeof createExportRequest>;

export const EXPORT_STATUSES = ['queued', 'running', 'done', 'failed'] as const;

export const listExportsQuery = z.strictObject({
  period: billingPeriod.optional(),
  status: z.enum(EXPORT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
export type ListExportsQuery = z.infer<typeof listExportsQuery>;
