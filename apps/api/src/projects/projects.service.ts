import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, type EntityManager } from 'typeorm';
import { DomainError, notFound } from '#domain';
import { OrganizationEntity, ProjectEntity, ProjectMemberEntity, UserEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { keysetPage } from '../common/query-support.js';
import type { AddMemberRequest } from './dto/add-member.request.js';
import type { CreateProjectRequest } from './dto/create-project.request.js';
import type { ListProjectsQuery } from './dto/list-projects.request.js';
import {
  toProjectMember,
  toProjectSummary,
  type ProjectMemberResponse,
  type ProjectResponse,
  type ProjectSummaryResponse,
} from './dto/project.response.js';
import { ProjectAccess } from '#application';

@Injectable()
export class ProjectsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly access: ProjectAccess,
    private readonly audit: AuditService,
  ) {}

  /** Admins create any project; anyone else only for their own organization, with themselves as PI. */
  async create(
    principal: Principal,
    input: CreateProjectRequest,
    requestId: string | null,
  ): Promise<ProjectResponse> {
    if (!hasRole(principal, 'admin')) {
      const ownsIt =
        principal.kind === 'user' &&
        principal.userId === input.piUserId &&
        principal.organizationId === input.organizationId;
      if (!ownsIt) {
        throw new DomainError(
          'forbidden',
          'PROJECT_CREATION_FORBIDDEN',
          'Without the admin role you may create a project only for your own organization, with yourself as PI.',
        );
      }
    }
    const memberIds = [...new Set(input.memberIds ?? [])].filter((id) => id !== input.piUserId);
    return this.dataSource.transaction(async (manager) => {
      if (
        !(await manager.getRepository(OrganizationEntity).exists({ where: { id: input.organizationId } }))
      ) {
        throw new DomainError(
          'rule_violated',
          'UNKNOWN_ORGANIZATION',
          `Organization ${input.organizationId} does not exist.`,
          [{ field: 'organizationId', message: 'no such organization' }],
        );
      }
      const users = await activeUsers(manager, [input.piUserId, ...memberIds]);
      const missing = [input.piUserId, ...memberIds].filter((id) => !users.has(id));
      if (missing.length > 0) {
        throw new DomainError(
          'rule_violated',
          'UNKNOWN_USER',
          `No active user has the id ${missing.join(', ')}.`,
          [
            ...missing.map((id) => ({
              field: id === input.piUserId ? 'piUserId' : 'memberIds',
              message: `no active user ${id}`,
            })),
          ],
        );
      }
      const pi = users.get(input.piUserId);
      if (pi?.organizationId !== input.organizationId) throw piOutsideOrganization(input.piUserId);

      const projects = manager.getRepository(ProjectEntity);
      const project = await projects.save(
        projects.create({
          title: input.title,
          organizationId: input.organizationId,
          piUserId: input.piUserId,
        }),
      );
      const memberships = manager.getRepository(ProjectMemberEntity);
      await memberships.insert([
        { projectId: project.id, userId: input.piUserId, role: 'pi' },
        ...memberIds.map((userId) => ({ projectId: project.id, userId, role: 'member' })),
      ]);
      const created = await this.view(manager, project);
      await this.audit.record(manager, {
        principal,
        action: 'project.created',
        subjectType: 'project',
        subjectId: project.id,
        after: created,
        requestId,
      });
      return created;
    });
  }

  async list(principal: Principal, query: ListProjectsQuery): Promise<Page<ProjectSummaryResponse>> {
    const builder = this.dataSource.getRepository(ProjectEntity).createQueryBuilder('project');
    if (!hasRole(principal, 'admin')) {
      if (principal.kind !== 'user') return { items: [], nextCursor: null };
      builder.andWhere(
        '"project"."id" IN (SELECT "m"."project_id" FROM "project_members" "m" WHERE "m"."user_id" = :userId)',
        {
          userId: principal.userId,
        },
      );
    }
    if (query.organizationId)
      builder.andWhere('"project"."organization_id" = :organizationId', {
        organizationId: query.organizationId,
      });
    return keysetPage(builder, query, toProjectSummary);
  }

  async get(principal: Principal, id: string): Promise<ProjectResponse> {
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      await this.access.assertVisible(principal, id, manager);
      const project = await manager.getRepository(ProjectEntity).findOneOrFail({ where: { id } });
      return this.view(manager, project);
    });
  }

  /** The PI or an admin adds a member, or (role `pi`) hands the project to another member of its organization. */
  async addMember(
    principal: Principal,
    projectId: string,
    input: AddMemberRequest,
    requestId: string | null,
  ): Promise<ProjectMemberResponse> {
    return this.dataSource.transaction(async (manager) => {
      const project = await this.lockForChange(principal, projectId, manager);
      const user = (await activeUsers(manager, [input.userId])).get(input.userId);
      if (!user) {
        throw new DomainError('rule_violated', 'UNKNOWN_USER', `No active user has the id ${input.userId}.`, [
          { field: 'userId', message: 'no active user' },
        ]);
      }
      const memberships = manager.getRepository(ProjectMemberEntity);
      const existing = await memberships.findOne({ where: { projectId, userId: input.userId } });
      const before = await this.view(manager, project);

      if (input.role === 'member') {
        if (existing) {
          throw new DomainError(
            'conflict',
            'ALREADY_MEMBER',
            `User ${input.userId} is already on this project as ${existing.role}.`,
          );
        }
        await memberships.insert({ projectId, userId: input.userId, role: 'member' });
      } else {
        if (project.piUserId === input.userId) {
          throw new DomainError(
            'conflict',
            'ALREADY_MEMBER',
            `User ${input.userId} is already the PI of this project.`,
          );
        }
        if (user.organizationId !== project.organizationId)
          throw piOutsideOrganization(input.userId, 'userId');
        await memberships.update({ projectId, userId: project.piUserId }, { role: 'member' });
        if (existing) await memberships.update({ projectId, userId: input.userId }, { role: 'pi' });
        else await memberships.insert({ projectId, userId: input.userId, role: 'pi' });
        await manager.getRepository(ProjectEntity).update({ id: projectId }, { piUserId: input.userId });
        project.piUserId = input.userId;
      }

      const after = await this.view(manager, project);
      await this.audit.record(manager, {
        principal,
        action: input.role === 'pi' ? 'project.pi_changed' : 'project.member_added',
        subjectType: 'project',
        subjectId: projectId,
        before,
        after,
        requestId,
      });
      const member = after.members.find((entry) => entry.userId === input.userId);
      if (!member)
        throw new Error(`membership of ${input.userId} in ${projectId} vanished inside its own transaction`);
      return member;
    });
  }

  /** The PI or an admin removes a member; a member may also leave. The PI is never removed (hand the project over first). */
  async removeMember(
    principal: Principal,
    projectId: string,
    userId: string,
    requestId: string | null,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const leaving = principal.kind === 'user' && principal.userId === userId;
      const project = await this.lockForChange(principal, projectId, manager, { allowSelf: leaving });
      if (project.piUserId === userId) {
        throw new DomainError(
          'rule_violated',
          'PI_CANNOT_BE_REMOVED',
          'The PI cannot be removed from the project; make another member PI first (POST /v1/projects/:id/members with role "pi").',
        );
      }
      const memberships = manager.getRepository(ProjectMemberEntity);
      if (!(await memberships.exists({ where: { projectId, userId } })))
        throw notFound('Project member', userId);
      const before = await this.view(manager, project);
      await memberships.delete({ projectId, userId });
      await this.audit.record(manager, {
        principal,
        action: 'project.member_removed',
        subjectType: 'project',
        subjectId: projectId,
        before,
        after: await this.view(manager, project),
        requestId,
      });
    });
  }

  /**
   * Loads the project for a membership change, locked so that concurrent changes (two PI hand-overs)
   * serialize. Invisible projects are 404; visible ones that the caller does not lead are 403.
   */
  private async lockForChange(
    principal: Principal,
    projectId: string,
    manager: EntityManager,
    options: { allowSelf?: boolean } = {},
  ): Promise<ProjectEntity> {
    await this.access.assertVisible(principal, projectId, manager);
    const project = await manager
      .getRepository(ProjectEntity)
      .findOneOrFail({ where: { id: projectId }, lock: { mode: 'pessimistic_write' } });
    const leads =
      hasRole(principal, 'admin') || (principal.kind === 'user' && principal.userId === project.piUserId);
    if (!leads && !options.allowSelf) {
      throw new DomainError(
        'forbidden',
        'PI_REQUIRED',
        'Only the project PI or an admin may change its members.',
      );
    }
    return project;
  }

  private async view(manager: EntityManager, project: ProjectEntity): Promise<ProjectResponse> {
    const memberships = await manager.getRepository(ProjectMemberEntity).find({
      where: { projectId: project.id },
      relations: { user: true },
      order: { createdAt: 'ASC', userId: 'ASC' },
    });
    const members = memberships
      .filter(
        (membership): membership is ProjectMemberEntity & { user: UserEntity } =>
          membership.user !== undefined,
      )
      .map((membership) => toProjectMember(membership, membership.user))
      .sort((left, right) => Number(right.role === 'pi') - Number(left.role === 'pi'));
    return { ...toProjectSummary(project), members };
  }
}

async function activeUsers(manager: EntityManager, ids: string[]): Promise<Map<string, UserEntity>> {
  const rows = await manager.getRepository(UserEntity).find({ where: { id: In(ids), active: true } });
  return new Map(rows.map((row) => [row.id, row]));
}

function piOutsideOrganization(userId: string, field = 'piUserId'): DomainError {
  return new DomainError(
    'rule_violated',
    'PI_OUTSIDE_ORGANIZATION',
    `User ${userId} does not belong to the project's organization; a PI leads a project of their own organization.`,
    [{ field, message: 'not a member of the organization' }],
  );
}
