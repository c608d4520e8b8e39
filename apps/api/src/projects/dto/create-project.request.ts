import { z } from 'zod';
import { displayText } from '../../organizations/dto/fields.js';

const userId = z.uuid({ message: 'must be a UUID' });

export const createProjectRequest = z.strictObject({
  title: displayText(200),
  organizationId: z.uuid({ message: 'must be a UUID' }),
  /** The project lead; must belong to the organization. Non-admins create projects with themselves as PI. */
  piUserId: userId,
  /** Further members (from any organization); larger teams are added with POST /v1/projects/:id/members. */
  memberIds: z.array(userId).max(100).optional(),
});
export type CreateProjectRequest = z.infer<typeof createProjectRequest>;
