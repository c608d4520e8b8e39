import { Injectable } from '@nestjs/common';
import {
  allocationAccount,
  hasRole,
  mayActOnProjectWorkloads,
  notFound,
  submissionRefusal,
  submissionViolations,
  type Principal,
} from '#domain';
import {
  LedgerRepository,
  WorkloadPlacementRepository,
  WorkloadRepository,
  type AllocationEntity,
  type PlacementLimits,
  type Tx,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import type { WorkloadSpec } from './workload-commands.js';

/** How long a model's placement limits are reused between submissions. */
const PLACEMENT_LIMITS_TTL_MS = 5000;

/**
 * The check every submission passes inside its transaction: the allocation (404 unless the caller
 * may act for its project) and, all at once, every rule the submission breaks.
 */
@Injectable()
export class SubmissionCheck {
  private readonly limitsCache = new Map<string, { at: number; value: PlacementLimits }>();

  constructor(
    private readonly workloads: WorkloadRepository,
    private readonly placements: WorkloadPlacementRepository,
    private readonly ledger: LedgerRepository,
    private readonly access: ProjectAccess,
  ) {}

  async admissibleAllocation(
    tx: Tx,
    principal: Principal,
    spec: WorkloadSpec,
    now: Date,
  ): Promise<AllocationEntity> {
    const allocation = await this.workloads.findAllocation(spec.allocationId, tx);
    if (!allocation || !(await this.mayAct(principal, allocation.projectId, tx)))
      throw notFound('Allocation', spec.allocationId);
    const account = allocationAccount(allocation.id);
    const balances = await this.ledger.balances(tx, [account]);
    const refusal = submissionRefusal(
      submissionViolations({
        now,
        request: spec,
        allocation,
        remainingGpuSeconds: balances.get(account) ?? 0n,
        pool: await this.limitsOf(spec.gpuModel, tx),
      }),
    );
    if (refusal) throw refusal;
    return allocation;
  }

  /** Members (PI or member) of the project, and admins. */
  async mayAct(principal: Principal, projectId: string, tx?: Tx): Promise<boolean> {
    if (mayActOnProjectWorkloads({ admin: hasRole(principal, 'admin'), projectMember: false })) return true;
    const projectMember = (await this.access.membership(principal, projectId, tx)) !== null;
    return mayActOnProjectWorkloads({ admin: false, projectMember });
  }

  /**
   * The model's placement limits, cached a few seconds per model: the layout changes only when
   * operators register clusters or take nodes down, and every submission needs it.
   */
  private async limitsOf(gpuModel: string, tx: Tx): Promise<PlacementLimits> {
    const cached = this.limitsCache.get(gpuModel);
    if (cached && Date.now() - cached.at < PLACEMENT_LIMITS_TTL_MS) return cached.value;
    const value = await this.placements.limitsOf(gpuModel, tx);
    this.limitsCache.set(gpuModel, { at: Date.now(), value });
    return value;
  }
}
