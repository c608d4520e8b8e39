import { z } from 'zod';
import { pageResponse } from '../../organizations/dto/fields.js';

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
