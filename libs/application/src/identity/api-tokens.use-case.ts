import { Injectable } from '@nestjs/common';
import { DomainError, hasRole, notFound, type ApiTokenScope, type Principal } from '#domain';
import {
  ApiTokenRepository,
  AuditRepository,
  TransactionRunner,
  UserRepository,
  type Page,
  type PageQuery,
} from '#persistence';
import { Credentials } from './credentials.port.js';
import { apiTokenView, type ApiTokenView } from './identity.views.js';

/** The answer to a mint, the only time the secret is shown. */
export interface CreatedApiToken {
  id: string;
  name: string;
  scopes: ApiTokenScope[];
  token: string;
  tokenPrefix: string;
  createdAt: string;
}

/**
 * Machine credentials. Admins manage every token; operators manage the tokens they created
 * (someone else's token is a 404 to them).
 */
@Injectable()
export class CreateApiTokenUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly tokens: ApiTokenRepository,
    private readonly credentials: Credentials,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    input: { name: string; scopes: ApiTokenScope[] },
    requestId: string | null,
  ): Promise<CreatedApiToken> {
    const userId = userIdOf(principal);
    const { token, tokenHash, tokenPrefix } = this.credentials.newApiToken();
    return this.transactions.run(async (tx) => {
      const row = await this.tokens.insert(tx, {
        name: input.name,
        scopes: input.scopes,
        tokenHash,
        tokenPrefix,
        createdBy: userId,
      });
      await this.audit.record(tx, {
        principal,
        action: 'api_token.created',
        subjectType: 'api_token',
        subjectId: row.id,
        after: apiTokenView(row),
        requestId,
      });
      return {
        id: row.id,
        name: row.name,
        scopes: input.scopes,
        token,
        tokenPrefix,
        createdAt: row.createdAt.toISOString(),
      };
    });
  }
}

@Injectable()
export class RevokeApiTokenUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly tokens: ApiTokenRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** Revoking twice is harmless: the second call changes nothing and records nothing. */
  async execute(principal: Principal, id: string, requestId: string | null): Promise<void> {
    await this.transactions.run(async (tx) => {
      const row = await this.tokens.findForUpdate(tx, id);
      if (!row || !(hasRole(principal, 'admin') || row.createdBy === userIdOf(principal)))
        throw notFound('API token', id);
      if (row.revokedAt !== null) return;
      const before = apiTokenView(row);
      const revokedAt = new Date();
      await this.tokens.markRevoked(tx, id, revokedAt);
      await this.audit.record(tx, {
        principal,
        action: 'api_token.revoked',
        subjectType: 'api_token',
        subjectId: id,
        before,
        after: apiTokenView({ ...row, revokedAt }),
        requestId,
      });
    });
  }
}

@Injectable()
export class ApiTokenQueries {
  constructor(private readonly tokens: ApiTokenRepository) {}

  async list(
    principal: Principal,
    query: { includeRevoked: boolean },
    page: PageQuery,
  ): Promise<Page<ApiTokenView>> {
    const createdBy = hasRole(principal, 'admin') ? undefined : userIdOf(principal);
    const rows = await this.tokens.page({ createdBy, includeRevoked: query.includeRevoked }, page);
    return { items: rows.items.map(apiTokenView), nextCursor: rows.nextCursor };
  }
}

export const SIMULATOR_TOKEN_NAME = 'simulator';
const SIMULATOR_TOKEN_SCOPES: ApiTokenScope[] = ['agent', 'usage:write'];

/**
 * The simulated cluster agent's API token (scopes `agent`, `usage:write`), created by the bootstrap
 * admin. Secrets are never stored, so each start revokes the older `simulator` tokens and mints a
 * fresh one. Serialized by a lock, so two launchers at once still leave exactly one live token each
 * time one finishes.
 */
@Injectable()
export class MintSimulatorTokenUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly users: UserRepository,
    private readonly tokens: ApiTokenRepository,
    private readonly credentials: Credentials,
    private readonly audit: AuditRepository,
  ) {}

  /** The new token's secret; `adminEmail` names the bootstrap admin who owns it. */
  async execute(adminEmail: string): Promise<string> {
    return this.transactions.run(async (tx) => {
      await this.tokens.lockSimulatorTokenMint(tx);
      const admin = await this.users.findByEmail(adminEmail.toLowerCase(), tx);
      if (!admin?.active) {
        throw new Error(
          `the bootstrap admin ${adminEmail} does not exist or is inactive: run the seed first`,
        );
      }
      const older = await this.tokens.liveNamed(tx, SIMULATOR_TOKEN_NAME);
      const revokedAt = new Date();
      for (const token of older) {
        await this.tokens.markRevoked(tx, token.id, revokedAt);
        await this.audit.record(tx, {
          action: 'api_token.revoked',
          subjectType: 'api_token',
          subjectId: token.id,
          before: { name: token.name, revokedAt: null },
          after: { name: token.name, revokedAt, reason: 'replaced by a new simulator token at start' },
        });
      }
      const { token, tokenHash, tokenPrefix } = this.credentials.newApiToken();
      const row = await this.tokens.insert(tx, {
        name: SIMULATOR_TOKEN_NAME,
        scopes: SIMULATOR_TOKEN_SCOPES,
        tokenHash,
        tokenPrefix,
        createdBy: admin.id,
      });
      await this.audit.record(tx, {
        action: 'api_token.created',
        subjectType: 'api_token',
        subjectId: row.id,
        before: null,
        after: {
          name: SIMULATOR_TOKEN_NAME,
          scopes: SIMULATOR_TOKEN_SCOPES,
          tokenPrefix,
          createdBy: admin.id,
        },
      });
      return token;
    });
  }
}

/** Tokens are managed by people: a token cannot mint or revoke tokens (the guard already refuses it). */
function userIdOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError(
      'forbidden',
      'USER_REQUIRED',
      'API tokens are managed by signed-in users, not by other API tokens.',
    );
  }
  return principal.userId;
}
