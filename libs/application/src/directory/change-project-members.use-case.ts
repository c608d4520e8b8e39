import { Injectable } from '@nestjs/common';
import { DomainError, notFound, type Principal } from '#domain';
import {
  AuditRepository,
  ProjectRepository,
  TransactionRunner,
  UserRepository,
  type ProjectEntity,
  type Tx,
  type UserEntity,
} from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { loadProjectView, lockProjectForChange, piOutsideOrganization } from './project-rules.js';
import type { ProjectMemberView } from './project.views.js';

export interface AddProjectMemberInput {
  userId: string;
  role: 'member' | 'pi';
}

/** The PI or an admin adds a member, or (role `pi`) hands the project to another member of its organization. */
@Injectable()
export class AddProjectMemberUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly access: ProjectAccess,
    private readonly projects: ProjectRepository,
    private readonly users: UserRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    projectId: string,
    input: AddProjectMemberInput,
    requestId: string | null,
  ): Promise<ProjectMemberView> {
    return this.transactions.run(async (tx) => {
      const project = await lockProjectForChange(
        { access: this.access, projects: this.projects },
        tx,
        principal,
        projectId,
      );
      const user = (await this.users.activeByIds([input.userId], tx)).get(input.userId);
      if (!user) {
        throw new DomainError('rule_violated', 'UNKNOWN_USER', `No active user has the id ${input.userId}.`, [
          { field: 'userId', message: 'no active user' },
        ]);
      }
      const before = await loadProjectView(this.projects, project, tx);
      if (input.role === 'member') await this.addMember(tx, project, input.userId);
      else await this.handOver(tx, project, user);

      const after = await loadProjectView(this.projects, project, tx);
      await this.audit.record(tx, {
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

  private async addMember(tx: Tx, project: ProjectEntity, userId: string): Promise<void> {
    const existing = await this.projects.findMember(tx, project.id, userId);
    if (existing) {
      throw new DomainError(
        'conflict',
        'ALREADY_MEMBER',
        `User ${userId} is already on this project as ${existing.role}.`,
      );
    }
    await this.projects.insertMembers(tx, [{ projectId: project.id, userId, role: 'member' }]);
  }

  /** The old PI stays on as a member; the new one (a member already or not) becomes PI. */
  private async handOver(tx: Tx, project: ProjectEntity, user: UserEntity): Promise<void> {
    if (project.piUserId === user.id) {
      throw new DomainError(
        'conflict',
        'ALREADY_MEMBER',
        `User ${user.id} is already the PI of this project.`,
      );
    }
    if (user.organizationId !== project.organizationId) throw piOutsideOrganization(user.id, 'userId');
    const existing = await this.projects.findMember(tx, project.id, user.id);
    await this.projects.setMemberRole(tx, {
      projectId: project.id,
      userId: project.piUserId,
      role: 'member',
    });
    if (existing)
      await this.projects.setMemberRole(tx, { projectId: project.id, userId: user.id, role: 'pi' });
    else await this.projects.insertMembers(tx, [{ projectId: project.id, userId: user.id, role: 'pi' }]);
    await this.projects.setPi(tx, project.id, user.id);
    project.piUserId = user.id;
  }
}

/** The PI or an admin removes a member; a member may also leave. The PI is never removed (hand the project over first). */
@Injectable()
export class RemoveProjectMemberUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly access: ProjectAccess,
    private readonly projects: ProjectRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    projectId: string,
    userId: string,
    requestId: string | null,
  ): Promise<void> {
    await this.transactions.run(async (tx) => {
      const leaving = principal.kind === 'user' && principal.userId === userId;
      const project = await lockProjectForChange(
        { access: this.access, projects: this.projects },
        tx,
        principal,
        projectId,
        { allowSelf: leaving },
      );
      if (project.piUserId === userId) {
        throw new DomainError(
          'rule_violated',
          'PI_CANNOT_BE_REMOVED',
          'The PI cannot be removed from the project; make another member PI first (POST /v1/projects/:id/members with role "pi").',
        );
      }
      if (!(await this.projects.findMember(tx, projectId, userId))) throw notFound('Project member', userId);
      const before = await loadProjectView(this.projects, project, tx);
      await this.projects.deleteMember(tx, projectId, userId);
      await this.audit.record(tx, {
        principal,
        action: 'project.member_removed',
        subjectType: 'project',
        subjectId: projectId,
        before,
        after: await loadProjectView(this.projects, project, tx),
        requestId,
      });
    });
  }
}
