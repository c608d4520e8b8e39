import { Injectable } from '@nestjs/common';
import { DomainError, hasRole, type Principal } from '#domain';
import {
  AuditRepository,
  OrganizationRepository,
  ProjectRepository,
  TransactionRunner,
  UserRepository,
} from '#persistence';
import { loadProjectView, piOutsideOrganization } from './project-rules.js';
import type { ProjectView } from './project.views.js';

export interface CreateProjectInput {
  title: string;
  organizationId: string;
  piUserId: string;
  memberIds?: string[] | undefined;
}

/** Admins create any project; anyone else only for their own organization, with themselves as PI. */
@Injectable()
export class CreateProjectUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly projects: ProjectRepository,
    private readonly organizations: OrganizationRepository,
    private readonly users: UserRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    input: CreateProjectInput,
    requestId: string | null,
  ): Promise<ProjectView> {
    assertMayCreate(principal, input);
    const memberIds = [...new Set(input.memberIds ?? [])].filter((id) => id !== input.piUserId);
    return this.transactions.run(async (tx) => {
      if (!(await this.organizations.exists(input.organizationId, tx))) {
        throw new DomainError(
          'rule_violated',
          'UNKNOWN_ORGANIZATION',
          `Organization ${input.organizationId} does not exist.`,
          [{ field: 'organizationId', message: 'no such organization' }],
        );
      }
      const wanted = [input.piUserId, ...memberIds];
      const users = await this.users.activeByIds(wanted, tx);
      const missing = wanted.filter((id) => !users.has(id));
      if (missing.length > 0) {
        throw new DomainError(
          'rule_violated',
          'UNKNOWN_USER',
          `No active user has the id ${missing.join(', ')}.`,
          missing.map((id) => ({
            field: id === input.piUserId ? 'piUserId' : 'memberIds',
            message: `no active user ${id}`,
          })),
        );
      }
      if (users.get(input.piUserId)?.organizationId !== input.organizationId)
        throw piOutsideOrganization(input.piUserId);

      const project = await this.projects.insert(tx, {
        title: input.title,
        organizationId: input.organizationId,
        piUserId: input.piUserId,
      });
      await this.projects.insertMembers(tx, [
        { projectId: project.id, userId: input.piUserId, role: 'pi' },
        ...memberIds.map((userId) => ({ projectId: project.id, userId, role: 'member' as const })),
      ]);
      const created = await loadProjectView(this.projects, project, tx);
      await this.audit.record(tx, {
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
}

function assertMayCreate(principal: Principal, input: CreateProjectInput): void {
  if (hasRole(principal, 'admin')) return;
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
