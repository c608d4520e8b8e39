import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { ApiTokensService } from './api-tokens.service.js';
import { RateLimitGroup } from '../rate-limit/rate-limit.decorators.js';
import { apiTokenPageResponse, createdApiTokenResponse } from './dto/api-token.response.js';
import { createApiTokenRequest, type CreateApiTokenRequest } from './dto/create-api-token.request.js';
import { listApiTokensQuery, type ListApiTokensQuery } from './dto/list-api-tokens.request.js';

@ApiTags('api-tokens')
@ApiBearerAuth()
@Roles('admin', 'operator')
@Controller('v1/api-tokens')
export class ApiTokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  @Post()
  @RateLimitGroup('token-creation')
  @ApiCreatedResponse({
    standardSchema: createdApiTokenResponse,
    description: 'The token is shown this once; store it now.',
  })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createApiTokenRequest }) body: CreateApiTokenRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.tokens.create(principal, body, requestId);
  }

  @Get()
  @ApiOkResponse({ standardSchema: apiTokenPageResponse })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listApiTokensQuery }) query: ListApiTokensQuery,
  ) {
    return this.tokens.list(principal, query);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Revoked; the token is refused from now on.' })
  async revoke(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @RequestId() requestId: string | null,
  ): Promise<void> {
    await this.tokens.revoke(principal, params.id, requestId);
  }
}
