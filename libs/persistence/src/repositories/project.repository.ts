import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ProjectScope } from '#domain';
import { ProjectEntity, ProjectMemberEntity, UserEntity } from '../entities/directory.entities.js';
import { emptyPage, keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import type { ProjectRole } from './project-membership.repository.js';
import { projectScopeCondition } from './project-scope.sql.js';

export interface NewProject {
  title: string;
  organizationId: string;
  piUserId: string;
}

export interface ProjectMembership {
  projectId: string;
  userId: string;
  role: ProjectRole;
}

/** A membership row with the user it names. */
export type ProjectMemberWithUser = ProjectMemberEntity & { user: UserEntity };

export interface ProjectListFilter {
  scope: ProjectScope;
  organizationId?: string | undefined;
}

/** Projects and their member rows (who may see them is ProjectMembershipRepository's question). */
export abstract class ProjectRepository {
  abstract insert(tx: Tx, project: NewProject): Promise<ProjectEntity>;
  abstract find(projectId: string, tx?: Tx): Promise<ProjectEntity | null>;
  /** The project row locked until `tx` ends, so concurrent membership changes serialize. */
  abstract findForUpdate(tx: Tx, projectId: string): Promise<ProjectEntity | null>;
  abstract setPi(tx: Tx, projectId: string, userId: string): Promise<void>;
  /** Members in the order they joined (then by user id), each with their user. */
  abstract membersOf(projectId: string, tx?: Tx): Promise<ProjectMemberWithUser[]>;
  abstract findMember(tx: Tx, projectId: string, userId: string): Promise<ProjectMemberEntity | null>;
  abstract insertMembers(tx: Tx, members: ProjectMembership[]): Promise<void>;
  abstract setMemberRole(tx: Tx, membership: ProjectMembership): Promise<void>;
  abstract deleteMember(tx: Tx, projectId: string, userId: string): Promise<void>;
  /** Newest first, within the scope. */
  abstract page(filter: ProjectListFilter, page: PageQuery): Promise<Page<ProjectEntity>>;
}

@Injectable()
export class TypeormProjectRepository extends ProjectRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async insert(tx: Tx, project: NewProject): Promise<ProjectEntity> {
    const projects = tx.getRepository(ProjectEntity);
    return projects.save(projects.create(project));
  }

  override find(projectId: string, tx?: Tx): Promise<ProjectEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(ProjectEntity).findOne({ where: { id: projectId } });
  }

  override findForUpdate(tx: Tx, projectId: string): Promise<ProjectEntity | null> {
    return tx
      .getRepository(ProjectEntity)
      .findOne({ where: { id: projectId }, lock: { mode: 'pessimistic_write' } });
  }

  override async setPi(tx: Tx, projectId: string, userId: string): Promise<void> {
    await tx.getRepository(ProjectEntity).update({ id: projectId }, { piUserId: userId });
  }

  override async membersOf(projectId: string, tx?: Tx): Promise<ProjectMemberWithUser[]> {
    const rows = await (tx ?? this.dataSource.manager).getRepository(ProjectMemberEntity).find({
      where: { projectId },
      relations: { user: true },
      order: { createdAt: 'ASC', userId: 'ASC' },
    });
    return rows.filter((row): row is ProjectMemberWithUser => row.user !== undefined);
  }

  override findMember(tx: Tx, projectId: string, userId: string): Promise<ProjectMemberEntity | null> {
    return tx.getRepository(ProjectMemberEntity).findOne({ where: { projectId, userId } });
  }

  override async insertMembers(tx: Tx, members: ProjectMembership[]): Promise<void> {
    if (members.length > 0) await tx.getRepository(ProjectMemberEntity).insert(members);
  }

  override async setMemberRole(tx: Tx, membership: ProjectMembership): Promise<void> {
    await tx
      .getRepository(ProjectMemberEntity)
      .update({ projectId: membership.projectId, userId: membership.userId }, { role: membership.role });
  }

  override async deleteMember(tx: Tx, projectId: string, userId: string): Promise<void> {
    await tx.getRepository(ProjectMemberEntity).delete({ projectId, userId });
  }

  override async page(filter: ProjectListFilter, page: PageQuery): Promise<Page<ProjectEntity>> {
    if (filter.scope.kind === 'none') return emptyPage();
    const builder = this.dataSource.getRepository(ProjectEntity).createQueryBuilder('project');
    const scope = projectScopeCondition(filter.scope, '"project"."id"');
    builder.andWhere(scope.sql, scope.params);
    if (filter.organizationId)
      builder.andWhere('"project"."organization_id" = :organizationId', {
        organizationId: filter.organizationId,
      });
    return keysetPage(builder, page, (row) => row);
  }
}
