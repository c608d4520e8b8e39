import { Injectable } from '@nestjs/common';
import { DomainError, hasRole, projectScopeOf, type Principal, type ProjectScope } from '#domain';
import { ProjectMembershipRepository, type ProjectRole, type Tx } from '#persistence';

/**
 * Object-level authorization for everything that belongs to a project (requests, allocations,
 * workloads, usage, notifications): the one place that decides who may see or act on a project.
 * Someone who may not see a project gets 404 for it and for everything under it, so ids of other
 * projects leak nothing. Lists filter with `scopeOf` (turned into SQL by projectScopeCondition).
 */
@Injectable()
export class ProjectAccess {
  constructor(private readonly memberships: ProjectMembershipRepository) {}

  /** The projects `principal` may see, for list queries. */
  scopeOf(principal: Principal, options: { piOnly?: boolean } = {}): ProjectScope {
    return projectScopeOf(principal, options);
  }

  async membership(principal: Principal, projectId: string, tx?: Tx): Promise<ProjectRole | null> {
    if (principal.kind !== 'user') return null;
    return this.memberships.roleOf(projectId, principal.userId, tx);
  }

  /** Admins see every project; everyone else sees the projects they are a member (or PI) of. */
  async assertVisible(principal: Principal, projectId: string, tx?: Tx): Promise<void> {
    const exists = await this.memberships.projectExists(projectId, tx);
    if (exists && (hasRole(principal, 'admin') || (await this.membership(principal, projectId, tx)) !== null))
      return;
    throw notFound(projectId);
  }

  /** Members (PI or member) may act for the project; admins may too. */
  async assertMember(principal: Principal, projectId: string, tx?: Tx): Promise<ProjectRole | 'admin'> {
    await this.assertVisible(principal, projectId, tx);
    if (hasRole(principal, 'admin')) return 'admin';
    const role = await this.membership(principal, projectId, tx);
    if (!role) throw notFound(projectId);
    return role;
  }

  /** Project ids the principal may see, or 'all' for admins. */
  async visibleProjectIds(principal: Principal, tx?: Tx): Promise<string[] | 'all'> {
    const scope = projectScopeOf(principal);
    if (scope.kind === 'all') return 'all';
    if (scope.kind === 'none') return [];
    return this.memberships.projectIdsOf(scope.userId, tx);
  }
}

function notFound(projectId: string): DomainError {
  return new DomainError('not_found', 'NOT_FOUND', `Project ${projectId} was not found.`);
}
