import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { createUserRequest, type CreateUserRequest } from './dto/create-user.request.js';
import { listUsersQuery, type ListUsersQuery } from './dto/list-users.request.js';
import { userPageResponse, userResponse } from './dto/user.response.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @Roles('admin')
  @ApiCreatedResponse({ standardSchema: userResponse })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createUserRequest }) body: CreateUserRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.users.create(principal, body, requestId);
  }

  @Get()
  @Roles('admin')
  @ApiOkResponse({ standardSchema: userPageResponse })
  list(@Query({ schema: listUsersQuery }) query: ListUsersQuery) {
    return this.users.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ standardSchema: userResponse })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return this.users.get(principal, params.id);
  }
}
