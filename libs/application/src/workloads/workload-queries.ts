import { Injectable } from '@nestjs/common';
import {
  allowedWorkloadActions,
  hasRole,
  mayActOnProjectWorkloads,
  notFound,
  type Principal,
  type ProjectScope,
} from '#domain';
import {
  WorkloadPlacementRepository,
  WorkloadRepository,
  type Page,
  type PageQuery,
  type PlacementPart,
  type Tx,
  type WorkloadEntity,
  type WorkloadFilters,
  type WorkloadHoldEntity,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';

/** A workload with the GPUs it holds (empty unless admitted or running), and what the caller may do with it. */
export interface WorkloadWithPlacement {
  workload: WorkloadEntity;
  placement: PlacementPart[];
  allowedActions: 'cancel'[];
}

/**
 * Workloads as people read them. Admins, and operators who watch the queues, read every workload;
 * everyone else reads those of the projects they belong to, and gets 404 for the rest.
 */
@Injectable()
export class WorkloadQueries {
  constructor(
    private readonly workloads: WorkloadRepository,
    private readonly placements: WorkloadPlacementRepository,
    private readonly access: ProjectAccess,
  ) {}

  async get(principal: Principal, id: string): Promise<WorkloadWithPlacement> {
    const workload = await this.workloads.findById(id);
    if (!workload || !(await this.mayRead(principal, workload.projectId))) throw notFound('Workload', id);
    const placements = await this.placements.placementsOf([id]);
    const actsFor = await this.actsFor(principal);
    return {
      workload,
      placement: placements.get(id) ?? [],
      allowedActions: allowedWorkloadActions(workload.state, actsFor(workload.projectId)),
    };
  }

  /** The workload and the holds of its admission attempts (its attempt history), oldest first. */
  async attempts(
    principal: Principal,
    id: string,
  ): Promise<{ workload: WorkloadEntity; attempts: WorkloadHoldEntity[] }> {
    const workload = await this.workloads.findById(id);
    if (!workload || !(await this.mayRead(principal, workload.projectId))) throw notFound('Workload', id);
    return { workload, attempts: await this.workloads.attemptsOf(id) };
  }

  /** Newest first; only workloads of projects the caller may see (admins and operators: all). */
  async list(
    principal: Principal,
    filters: WorkloadFilters,
    page: PageQuery,
  ): Promise<Page<WorkloadWithPlacement>> {
    if (filters.allocationId !== undefined) {
      const allocation = await this.workloads.findAllocation(filters.allocationId);
      if (!allocation || !(await this.mayRead(principal, allocation.projectId)))
        throw notFound('Allocation', filters.allocationId);
    }
    if (filters.projectId !== undefined && !(await this.mayRead(principal, filters.projectId)))
      throw notFound('Project', filters.projectId);
    const rows = await this.workloads.list(this.readScope(principal), filters, page);
    const placements = await this.placements.placementsOf(
      rows.items.filter((row) => row.state === 'admitted' || row.state === 'running').map((row) => row.id),
    );
    const actsFor = await this.actsFor(principal);
    return {
      items: rows.items.map((workload) => ({
        workload,
        placement: placements.get(workload.id) ?? [],
        allowedActions: allowedWorkloadActions(workload.state, actsFor(workload.projectId)),
      })),
      nextCursor: rows.nextCursor,
    };
  }

  /** Whether the caller may act on a project's workloads (libs/domain's rule, as CancelWorkloadUseCase checks it). */
  private async actsFor(principal: Principal): Promise<(projectId: string) => boolean> {
    const admin = hasRole(principal, 'admin');
    const visible = admin ? [] : await this.access.visibleProjectIds(principal);
    // One query for the caller's projects (what a member scope lists), not one per row.
    const memberOf = new Set(visible === 'all' ? [] : visible);
    return (projectId) => mayActOnProjectWorkloads({ admin, projectMember: memberOf.has(projectId) });
  }

  private readScope(principal: Principal): ProjectScope {
    return hasRole(principal, 'operator') ? { kind: 'all' } : this.access.scopeOf(principal);
  }

  private async mayRead(principal: Principal, projectId: string, tx?: Tx): Promise<boolean> {
    if (this.readScope(principal).kind === 'all') return true;
    return (await this.access.membership(principal, projectId, tx)) !== null;
  }
}
