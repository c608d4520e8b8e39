import { z } from 'zod';
import type { ApiTokenEntity } from '#persistence';
import { API_TOKEN_SCOPES, type ApiTokenScope } from '../../auth/principal.js';
import { pageResponse } from '../../organizations/dto/fields.js';

/** A token as listed: never the secret nor its hash. */
export const apiTokenResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  scopes: z.array(z.enum(API_TOKEN_SCOPES)),
  /** The first characters of the token, to recognise it in a config file. */
  tokenPrefix: z.string(),
  createdBy: z.uuid(),
  createdAt: z.iso.datetime(),
  revokedAt: z.iso.datetime().nullable(),
  lastUsedAt: z.iso.datetime().nullable(),
});
export type ApiTokenResponse = z.infer<typeof apiTokenResponse>;

export const apiTokenPageResponse = pageResponse(apiTokenResponse);

/** The answer to POST, the only time the secret is shown. */
export const createdApiTokenResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  scopes: z.array(z.enum(API_TOKEN_SCOPES)),
  token: z.string(),
  tokenPrefix: z.string(),
  createdAt: z.iso.datetime(),
});
export type CreatedApiTokenResponse = z.infer<typeof createdApiTokenResponse>;

export function toApiTokenResponse(row: ApiTokenEntity): ApiTokenResponse {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as ApiTokenScope[],
    tokenPrefix: row.tokenPrefix,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}
