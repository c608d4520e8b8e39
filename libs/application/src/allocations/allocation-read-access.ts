import { Injectable } from '@nestjs/common';
import {
  allocationReadScopeOf,
  isDomainError,
  notFound,
  type AllocationReadScope,
  type Principal,
} from '#domain';
import {
  AllocationRepository,
  ProjectMembershipRepository,
  type AllocationEntity,
  type Tx,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';

/**
 * Who may read which allocations (and their usage): the allocation read scope of libs/domain over
 * the one project scope (ProjectAccess.scopeOf), plus the agency rule for finance users of an agency.
 * An allocation or project the caller may not read is a 404, never an empty answer.
 */
@Injectable()
export class AllocationReadAccess {
  constructor(
    private readonly projects: ProjectAccess,
    private readonly memberships: ProjectMembershipRepository,
    private readonly allocations: AllocationRepository,
  ) {}

  scopeOf(principal: Principal): AllocationReadScope {
    return allocationReadScopeOf(principal, this.projects.scopeOf(principal));
  }

  /** The allocation row if the caller may read it, else 404 NOT_FOUND. */
  async readable(principal: Principal, allocationId: string, tx?: Tx): Promise<AllocationEntity> {
    const allocation = await this.allocations.findById(allocationId, tx);
    if (!allocation || !(await this.mayRead(principal, allocation, tx)))
      throw notFound('Allocation', allocationId);
    return allocation;
  }

  /**
   * A projectId filter the caller may use: 404 when they cannot see the project. Finance users of an
   * agency may name any existing project: what they read is still limited to their agency's programs.
   */
  async assertProjectFilterReadable(principal: Principal, projectId: string): Promise<void> {
    const scope = this.scopeOf(principal);
    if (scope.kind === 'all') {
      if (!(await this.memberships.projectExists(projectId))) throw notFound('Project', projectId);
      return;
    }
    try {
      await this.projects.assertVisible(principal, projectId);
    } catch (error) {
      const agencyMayLook =
        isDomainError(error) &&
        error.kind === 'not_found' &&
        scope.agencyCode !== null &&
        (await this.memberships.projectExists(projectId));
      if (!agencyMayLook) throw error;
    }
  }

  private async mayRead(principal: Principal, allocation: AllocationEntity, tx?: Tx): Promise<boolean> {
    const scope = this.scopeOf(principal);
    if (scope.kind === 'all') return true;
    if ((await this.projects.membership(principal, allocation.projectId, tx)) !== null) return true;
    if (scope.agencyCode === null) return false;
    return this.allocations.programInAgency(allocation.programId, scope.agencyCode, tx);
  }
}
