import { z } from 'zod';
import { ROLES } from '../../auth/principal.js';
import { displayText } from '../../organizations/dto/fields.js';

export const createUserRequest = z
  .strictObject({
    email: z.email().max(254).toLowerCase(),
    name: displayText(200),
    organizationId: z.uuid({ message: 'must be a UUID' }),
    roles: z
      .array(z.enum(ROLES))
      .max(ROLES.length)
      .refine((roles) => new Set(roles).size === roles.length, { message: 'must not repeat a role' }),
    /** Omit for accounts that sign in through the OIDC issuer only. */
    password: z.string().min(12).max(256).optional(),
    /** Scopes a finance user to one agency's programs and exports. */
    agencyCode: z.string().min(1).max(64).optional(),
  })
  .refine((user) => user.agencyCode === undefined || user.roles.includes('finance'), {
    message: 'agencyCode scopes a finance user; give the finance role or leave it out',
    path: ['agencyCode'],
  });
export type CreateUserRequest = z.infer<typeof createUserRequest>;
