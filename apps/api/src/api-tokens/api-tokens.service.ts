import { Injectable } from '@nestjs/common';
import { ApiTokenQueries, CreateApiTokenUseCase, RevokeApiTokenUseCase } from '#application';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateApiTokenRequest } from './dto/create-api-token.request.js';
import type { ListApiTokensQuery } from './dto/list-api-tokens.request.js';
import type { ApiTokenResponse, CreatedApiTokenResponse } from './dto/api-token.response.js';

/**
 * Machine credentials, over the identity use cases (libs/application/src/identity). Admins manage
 * every token; operators manage the tokens they created (someone else's token is a 404 to them).
 */
@Injectable()
export class ApiTokensService {
  constructor(
    private readonly createToken: CreateApiTokenUseCase,
    private readonly revokeToken: RevokeApiTokenUseCase,
    private readonly queries: ApiTokenQueries,
  ) {}

  create(
    principal: Principal,
    input: CreateApiTokenRequest,
    requestId: string | null,
  ): Promise<CreatedApiTokenResponse> {
    return this.createToken.execute(principal, input, requestId);
  }

  list(principal: Principal, query: ListApiTokensQuery): Promise<Page<ApiTokenResponse>> {
    return this.queries.list(principal, { includeRevoked: query.includeRevoked }, query);
  }

  /** Revoking twice is harmless: the second call changes nothing and records nothing. */
  revoke(principal: Principal, id: string, requestId: string | null): Promise<void> {
    return this.revokeToken.execute(principal, id, requestId);
  }
}
