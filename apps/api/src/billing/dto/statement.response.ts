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
});
export type StatementsResponse = z.infer<typeof statementsResponse>;
