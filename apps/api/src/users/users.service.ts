import { Injectable } from '@nestjs/common';
import { CreateUserUseCase, UserQueries } from '#application';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateUserRequest } from './dto/create-user.request.js';
import type { ListUsersQuery } from './dto/list-users.request.js';
import type { UserResponse } from './dto/user.response.js';

/** The users endpoints over the identity use cases (libs/application/src/identity). */
@Injectable()
export class UsersService {
  constructor(
    private readonly createUser: CreateUserUseCase,
    private readonly queries: UserQueries,
  ) {}

  create(principal: Principal, input: CreateUserRequest, requestId: string | null): Promise<UserResponse> {
    return this.createUser.execute(principal, input, requestId);
  }

  list(query: ListUsersQuery): Promise<Page<UserResponse>> {
    return this.queries.list({ role: query.role, organizationId: query.organizationId }, query);
  }

  /** Admins may read any account, everyone else only their own (others are 404: ids leak nothing). */
  get(principal: Principal, id: string): Promise<UserResponse> {
    return this.queries.get(principal, id);
  }
}
