import { DomainError, hasRole, type Principal } from '#domain';
import type { ProjectEntity, ProjectRepository, Tx } from '#persistence';
import type { ProjectAccess } from '../access/project-access.js';
import { projectViewOf, type ProjectView } from './project.views.js';

/**
 * Loads the project for a membership change, locked so that concurrent changes (two PI hand-overs)
 * serialize. Invisible projects are 404; visible ones that the caller does not lead are 403.
 */
export async function lockProjectForChange(
  deps: { access: ProjectAccess; projects: ProjectRepository },
  tx: Tx,
  principal: Principal,
  projectId: string,
  options: { allowSelf?: boolean } = {},
): Promise<ProjectEntity> {
  await deps.access.assertVisible(principal, projectId, tx);
  const project = await deps.projects.findForUpdate(tx, projectId);
  if (!project) throw new Error(`project ${projectId} vanished after its visibility check`);
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

export async function loadProjectView(
  projects: ProjectRepository,
  project: ProjectEntity,
  tx?: Tx,
): Promise<ProjectView> {
  return projectViewOf(project, await projects.membersOf(project.id, tx));
}

export function piOutsideOrganization(userId: string, field = 'piUserId'): DomainError {
  return new DomainError(
    'rule_violated',
    'PI_OUTSIDE_ORGANIZATION',
    `User ${userId} does not belong to the project's organization; a PI leads a project of their own organization.`,
    [{ field, message: 'not a member of the organization' }],
  );
}
