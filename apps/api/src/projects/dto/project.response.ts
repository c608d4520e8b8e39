import { z } from 'zod';
import type { ProjectEntity, ProjectMemberEntity, UserEntity } from '#persistence';
import { pageResponse } from '../../organizations/dto/fields.js';
import type { ProjectRole } from '#persistence';

export const projectSummaryResponse = z.object({
  id: z.uuid(),
  title: z.string(),
  organizationId: z.uuid(),
  piUserId: z.uuid(),
  createdAt: z.iso.datetime(),
});
export type ProjectSummaryResponse = z.infer<typeof projectSummaryResponse>;

export const projectMemberResponse = z.object({
  projectId: z.uuid(),
  userId: z.uuid(),
  name: z.string(),
  email: z.string(),
  role: z.enum(['pi', 'member']),
  joinedAt: z.iso.datetime(),
});
export type ProjectMemberResponse = z.infer<typeof projectMemberResponse>;

export const projectResponse = projectSummaryResponse.extend({ members: z.array(projectMemberResponse) });
export type ProjectResponse = z.infer<typeof projectResponse>;

export const projectPageResponse = pageResponse(projectSummaryResponse);

export function toProjectSummary(row: ProjectEntity): ProjectSummaryResponse {
  return {
    id: row.id,
    title: row.title,
    organizationId: row.organizationId,
    piUserId: row.piUserId,
    createdAt: row.createdAt.toISOString(),
  };
}

export function toProjectMember(
  row: ProjectMemberEntity,
  user: Pick<UserEntity, 'name' | 'email'>,
): ProjectMemberResponse {
  return {
    projectId: row.projectId,
    userId: row.userId,
    name: user.name,
    email: user.email,
    role: row.role as ProjectRole,
    joinedAt: row.createdAt.toISOString(),
  };
}
