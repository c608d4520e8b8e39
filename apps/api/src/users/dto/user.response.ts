import { z } from 'zod';
import type { UserEntity } from '#persistence';
import { ROLES, type Role } from '../../auth/principal.js';
import { pageResponse } from '../../organizations/dto/fields.js';

/** A user as the API shows it: never the password hash. */
export const userResponse = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  organizationId: z.uuid().nullable(),
  roles: z.array(z.enum(ROLES)),
  agencyCode: z.string().nullable(),
  active: z.boolean(),
  /** False for accounts that sign in through OIDC only. */
  hasPassword: z.boolean(),
  createdAt: z.iso.datetime(),
});
export type UserResponse = z.infer<typeof userResponse>;

export const userPageResponse = pageResponse(userResponse);

export function toUserResponse(row: UserEntity): UserResponse {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    organizationId: row.organizationId,
    roles: row.roles as Role[],
    agencyCode: row.agencyCode,
    active: row.active,
    hasPassword: row.passwordHash !== null,
    createdAt: row.createdAt.toISOString(),
  };
}
