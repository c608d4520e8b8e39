import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { DomainError } from '#domain';
import { ProjectEntity, ProjectMemberEntity } from '#persistence';
import { hasRole, type Principal } from '../auth/principal.js';

export type ProjectRole = 'pi' | 'member';

/**
 * Object-level authorization for everything that belongs to a project (requests, allocations,
 * workloads). Someone who may not see a project gets 404 for it and for everything under it, so
 * ids of other projects leak nothing.
 */
@Injectable()
export class ProjectAccess {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async membership(
    principal: Principal,
    projectId: string,
    manager?: EntityManager,
  ): Promise<ProjectRole | null> {
    if (principal.kind !== 'user') return null;
    const row = await (manager ?? this.dataSource.manager)
      .getRepository(ProjectMemberEntity)
      .findOne({ where: { projectId, userId: principal.userId } });
    return row ? (row.role as ProjectRole) : null;
  }

  /** Admins see every project; everyone else sees the projects they are a member (or PI) of. */
  async assertVisible(principal: Principal, projectId: string, manager?: EntityManager): Promise<void> {
    const exists = await (manager ?? this.dataSource.manager)
      .getRepository(ProjectEntity)
      .exists({ where: { id: projectId } });
    if (
      exists &&
      (hasRole(principal, 'admin') || (await this.membership(principal, projectId, manager)) !== null)
    )
      return;
    throw new DomainError('not_found', 'NOT_FOUND', `Project ${projectId} was not found.`);
  }

  /** Members (PI or member) may act for the project; admins may too. */
  async assertMember(
    principal: Principal,
    projectId: string,
    manager?: EntityManager,
  ): Promise<ProjectRole | 'admin'> {
    await this.assertVisible(principal, projectId, manager);
    if (hasRole(principal, 'admin')) return 'admin';
    const role = await this.membership(principal, projectId, manager);
    if (!role) throw new DomainError('not_found', 'NOT_FOUND', `Project ${projectId} was not found.`);
    return role;
  }

  /** Project ids the principal may see, or 'all' for admins. */
  async visibleProjectIds(principal: Principal): Promise<string[] | 'all'> {
    if (hasRole(principal, 'admin')) return 'all';
    if (principal.kind !== 'user') return [];
    const rows = await this.dataSource
      .getRepository(ProjectMemberEntity)
      .find({ where: { userId: principal.userId } });
    return rows.map((row) => row.projectId);
  }
}
