import type { ProjectEntity, ProjectMemberWithUser, ProjectRole } from '#persistence';

/** What a project looks like to its readers (the API's project response, the audit trail). */
export interface ProjectSummaryView {
  id: string;
  title: string;
  organizationId: string;
  piUserId: string;
  createdAt: string;
}

export interface ProjectMemberView {
  projectId: string;
  userId: string;
  name: string;
  email: string;
  role: ProjectRole;
  joinedAt: string;
}

export interface ProjectView extends ProjectSummaryView {
  members: ProjectMemberView[];
}

export function projectSummaryOf(row: ProjectEntity): ProjectSummaryView {
  return {
    id: row.id,
    title: row.title,
    organizationId: row.organizationId,
    piUserId: row.piUserId,
    createdAt: row.createdAt.toISOString(),
  };
}

/** The project with its members, PI first, the rest in the order they joined. */
export function projectViewOf(project: ProjectEntity, members: ProjectMemberWithUser[]): ProjectView {
  const memberViews = members
    .map((row): ProjectMemberView => ({
      projectId: row.projectId,
      userId: row.userId,
      name: row.user.name,
      email: row.user.email,
      role: row.role as ProjectRole,
      joinedAt: row.createdAt.toISOString(),
    }))
    .sort((left, right) => Number(right.role === 'pi') - Number(left.role === 'pi'));
  return { ...projectSummaryOf(project), members: memberViews };
}
