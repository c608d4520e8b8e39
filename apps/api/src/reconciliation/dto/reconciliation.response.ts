import { z } from 'zod';
import type { ReconciliationReport } from '#persistence';

const drift = z.object({
  /** account_balance: a stored balance ≠ the sum of its entries; usage_rollup: a daily rollup ≠ its records; usage_posting: an allocation's usage postings ≠ its records. */
  kind: z.enum(['account_balance', 'usage_rollup', 'usage_posting']),
  /** The account, "<allocationId> <day>" or the allocation id. */
  subject: z.string(),
  stored: z.string(),
  recomputed: z.string(),
});

export const reconciliationReport = z.object({
  id: z.string(),
  createdAt: z.iso.datetime(),
  durationMs: z.int(),
  accountsChecked: z.int(),
  accountDrifts: z.int(),
  rollupsChecked: z.int(),
  rollupDrifts: z.int(),
  usageDrifts: z.int(),
  /** At most 100 are listed; the counts above are complete. */
  drifts: z.array(drift),
});

/** `report` is null before the reconciler has run once. */
export const reconciliationResponse = z.object({ report: reconciliationReport.nullable() });
export type ReconciliationResponse = z.infer<typeof reconciliationResponse>;

export function toReconciliationResponse(report: ReconciliationReport | null): ReconciliationResponse {
  return {
    report:
      report === null
        ? null
        : { ...report, createdAt: report.createdAt.toISOString(), drifts: [...report.drifts] },
  };
}
