import { z } from 'zod';
import { toAmount } from '#domain';
import { RECALL_PROPOSAL_STATUSES, type RecallProposalEntity } from '#persistence';
import { pageResponse } from '../../organizations/dto/fields.js';

const amount = z.object({ gpuSeconds: z.string(), gpuHours: z.string() });

export const recallProposalResponse = z.object({
  id: z.uuid(),
  allocationId: z.uuid(),
  projectId: z.uuid(),
  programId: z.uuid(),
  gpuModel: z.string(),
  /** The program's recall rule that made it. */
  ruleId: z.string(),
  /** proposed → confirmed | dismissed */
  status: z.enum(RECALL_PROPOSAL_STATUSES),
  /** What the rule asked for when it came due. */
  proposed: amount,
  /** What confirmation returned to the program (capped at what was unused then); null until confirmed. */
  recalled: amount.nullable(),
  /**
   * Use when it came due, in basis points (1000 = 10%): of the grant for a budget allocation, of the
   * server time reserved so far (its utilization) for a reserved one.
   */
  usedBasisPoints: z.int(),
  /**
   * Reserved allocations: the rule releases `proposed` servers early (`proposed` = `heldWhenProposed`
   * only when it recalls them all); `released` is what confirmation released (null until then). Their
   * remaining server time is `proposed`/`recalled` above. Null for budget allocations.
   */
  servers: z
    .object({ proposed: z.int(), heldWhenProposed: z.int(), released: z.int().nullable() })
    .nullable(),
  /** The sentence shown to the admin and the project. */
  reason: z.string(),
  dueAt: z.iso.datetime(),
  createdAt: z.iso.datetime(),
  decidedBy: z.uuid().nullable(),
  decidedAt: z.iso.datetime().nullable(),
});
export type RecallProposalResponse = z.infer<typeof recallProposalResponse>;

export const recallProposalPageResponse = pageResponse(recallProposalResponse);

export function toRecallProposalResponse(row: RecallProposalEntity): RecallProposalResponse {
  if (!row.allocation) throw new Error(`recall proposal ${row.id} was loaded without its allocation`);
  return {
    id: row.id,
    allocationId: row.allocationId,
    projectId: row.allocation.projectId,
    programId: row.programId,
    gpuModel: row.allocation.gpuModel,
    ruleId: row.ruleId,
    status: row.status as RecallProposalResponse['status'],
    proposed: toAmount(row.gpuSeconds),
    recalled: row.recalledGpuSeconds === null ? null : toAmount(row.recalledGpuSeconds),
    usedBasisPoints: row.usedBasisPoints,
    servers:
      row.servers === null
        ? null
        : {
            proposed: row.servers,
            heldWhenProposed: row.serversHeld ?? row.servers,
            released: row.releasedServers,
          },
    reason: row.reason,
    dueAt: row.dueAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
    decidedBy: row.decidedBy,
    decidedAt: row.decidedAt?.toISOString() ?? null,
  };
}
