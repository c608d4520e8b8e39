import { Injectable } from '@nestjs/common';
import { hasRole, notFound, type Principal, type ProjectScope } from '#domain';
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

/** A workload with the GPUs it holds (empty unless admitted or running). */
export interface WorkloadWithPlacement {
  workload: WorkloadEntity;
  placement: PlacementPart[];
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
    return { workload, placement: placements.get(id) ?? [] };
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
    return {
      items: rows.items.map((workload) => ({ workload, placement: placements.get(workload.id) ?? [] })),
      nextCursor: rows.nextCursor,
    };
  }

  private readScope(principal: Principal): ProjectScope {
    return hasRole(principal, 'operator') ? { kind: 'all' } : this.access.scopeOf(principal);
  }

  private async mayRead(principal: Principal, projectId: string, tx?: Tx): Promise<boolean> {
    if (this.readScope(principal).kind === 'all') return true;
    return (await this.access.membership(principal, projectId, tx)) !== null;
  }
}
