import { Injectable } from '@nestjs/common';
import type { ApiTokenScope, Principal, Role } from '#domain';
import { ApiTokenRepository, UserRepository } from '#persistence';

/** A token's last use is recorded at most once a minute (no write per request). */
export const TOKEN_USE_RESOLUTION_MS = 60_000;

/**
 * Who a verified credential acts for. The guard checks the credential itself (format, signature,
 * hash) and throws; this answers from the database, null when nobody may act.
 */
@Injectable()
export class PrincipalResolver {
  constructor(
    private readonly tokens: ApiTokenRepository,
    private readonly users: UserRepository,
  ) {}

  /** The live token with this hash, as a principal; records its use. */
  async apiToken(tokenHash: string, now: Date = new Date()): Promise<Principal | null> {
    const row = await this.tokens.findLiveByHash(tokenHash);
    // A token acts for the account that made it: a deactivated creator disables their tokens.
    if (!row?.creator?.active) return null;
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= TOKEN_USE_RESOLUTION_MS) {
      await this.tokens.recordUse(row.id, now);
    }
    return {
      kind: 'api_token',
      tokenId: row.id,
      scopes: row.scopes as ApiTokenScope[],
      createdBy: row.createdBy,
    };
  }

  /** The active user with this id, as a principal. */
  async user(userId: string): Promise<Principal | null> {
    const user = await this.users.find(userId);
    if (!user?.active) return null;
    return {
      kind: 'user',
      userId: user.id,
      email: user.email,
      roles: user.roles as Role[],
      organizationId: user.organizationId,
      agencyCode: user.agencyCode,
    };
  }
}
