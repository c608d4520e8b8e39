import { z } from 'zod';
import { API_TOKEN_SCOPES } from '../../auth/principal.js';
import { displayText } from '../../organizations/dto/fields.js';

export const createApiTokenRequest = z.strictObject({
  /** What the token is for, e.g. "gpu-cluster-1 agent". */
  name: displayText(200),
  scopes: z
    .array(z.enum(API_TOKEN_SCOPES))
    .min(1)
    .max(API_TOKEN_SCOPES.length)
    .refine((scopes) => new Set(scopes).size === scopes.length, { message: 'must not repeat a scope' }),
});
export type CreateApiTokenRequest = z.infer<typeof createApiTokenRequest>;
