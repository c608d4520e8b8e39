import { z } from 'zod';
import { STATEMENT_GROUPINGS } from '#domain';
import { amountsResponse } from './amounts.response.js';

export const statementResponse = amountsResponse.extend({
  /** The project, organization or program id, or the agency code. */
  key: z.string(),
  /** Project title, organization name, program name or agency name as the lines recorded them. */
  name: z.string(),
  /** What else identifies the key: organization of a project, type and 사업자등록번호 of an organization, code and agency of a program. */
  detail: z.record(z.string(), z.string().nullable()),
  lineCount: z.int(),
});

export const statementsResponse = z.object({
  period: z.string(),
  groupBy: z.enum(STATEMENT_GROUPINGS),
  agencyCode: z.string().nullable(),
  programId: z.uuid().nullable(),
  /** Ordered by key. */
  items: z.array(statementResponse),
  /** Over every page: the sum of the period's lines in scope, equal to the sum of all items. */
  totals: amountsResponse,
  lineCount: z.int(),
  nextCursor: z.string().nullable(),
  /** false: a closed period's stored lines, final. true: an open period computed now, not stored (see the preview route). */
  preview: z.boolean(),
});
export type StatementsResponse = z.infer<typeof statementsResponse>;

export const statementsPreviewResponse = statementsResponse.extend({
  /** Always true: computed as the period's close would compute it now; nothing is stored, and it changes as usage arrives. */
  preview: z.literal(true),
  /** When it was computed. */
  asOf: z.iso.datetime(),
  /**
   * Whether late usage and refund credits of closed periods are in it. They go to the next close:
   * this period's, unless an earlier period with usage is still open (earlierOpenPeriod), whose close takes them.
   */
  correctionsIncluded: z.boolean(),
  earlierOpenPeriod: z.string().nullable(),
});
export type StatementsPreviewResponse = z.infer<typeof statementsPreviewResponse>;
