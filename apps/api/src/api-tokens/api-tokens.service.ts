import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, notFound } from '#domain';
import { ApiTokenEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import { CredentialsService } from '../auth/credentials.service.js';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { keysetPage } from '../common/query-support.js';
import type { CreateApiTokenRequest } from './dto/create-api-token.request.js';
import type { ListApiTokensQuery } from './dto/list-api-tokens.request.js';
import {
  toApiTokenResponse,
  type ApiTokenResponse,
  type CreatedApiTokenResponse,
} from './dto/api-token.response.js';

/**
 * Machine credentials. Admins manage every token; operators manage the tokens they created
 * (someone else's token is a 404 to them).
 */
@Injectable()
export class ApiTokensService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly credentials: CredentialsService,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    input: CreateApiTokenRequest,
    requestId: string | null,
  ): Promise<CreatedApiTokenResponse> {
    const userId = userIdOf(principal);
    const { token, tokenHash, tokenPrefix } = this.credentials.newApiToken();
    return this.dataSource.transaction(async (manager) => {
      const tokens = manager.getRepository(ApiTokenEntity);
      const row = await tokens.save(
        tokens.create({ name: input.name, scopes: input.scopes, tokenHash, tokenPrefix, createdBy: userId }),
      );
      await this.audit.record(manager, {
        principal,
        action: 'api_token.created',
        subjectType: 'api_token',
        subjectId: row.id,
        after: toApiTokenResponse(row),
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

  async list(principal: Principal, query: ListApiTokensQuery): Promise<Page<ApiTokenResponse>> {
    const builder = this.dataSource.getRepository(ApiTokenEntity).createQueryBuilder('token');
    if (!hasRole(principal, 'admin'))
      builder.andWhere('"token"."created_by" = :userId', { userId: userIdOf(principal) });
    if (!query.includeRevoked) builder.andWhere('"token"."revoked_at" IS NULL');
    return keysetPage(builder, query, toApiTokenResponse);
  }

  /** Revoking twice is harmless: the second call changes nothing and records nothing. */
  async revoke(principal: Principal, id: string, requestId: string | null): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const tokens = manager.getRepository(ApiTokenEntity);
      const row = await tokens.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!row || !(hasRole(principal, 'admin') || row.createdBy === userIdOf(principal)))
        throw notFound('API token', id);
      if (row.revokedAt !== null) return;
      const before = toApiTokenResponse(row);
      row.revokedAt = new Date();
      await tokens.update({ id }, { revokedAt: row.revokedAt });
      await this.audit.record(manager, {
        principal,
        action: 'api_token.revoked',
        subjectType: 'api_token',
        subjectId: id,
        before,
        after: toApiTokenResponse(row),
        requestId,
      });
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
