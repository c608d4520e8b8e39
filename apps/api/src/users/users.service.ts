import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, notFound } from '#domain';
import { AgencyEntity, OrganizationEntity, UserEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import { CredentialsService } from '../auth/credentials.service.js';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { isUniqueViolation, keysetPage } from '../common/query-support.js';
import type { CreateUserRequest } from './dto/create-user.request.js';
import type { ListUsersQuery } from './dto/list-users.request.js';
import { toUserResponse, type UserResponse } from './dto/user.response.js';

@Injectable()
export class UsersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly credentials: CredentialsService,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    input: CreateUserRequest,
    requestId: string | null,
  ): Promise<UserResponse> {
    // Hash outside the transaction: Argon2 is deliberately slow and must not hold a connection.
    const passwordHash =
      input.password === undefined ? null : await this.credentials.hashPassword(input.password);
    try {
      return await this.dataSource.transaction(async (manager) => {
        const users = manager.getRepository(UserEntity);
        if (await users.exists({ where: { email: input.email } })) throw duplicateEmail(input.email);
        if (
          !(await manager.getRepository(OrganizationEntity).exists({ where: { id: input.organizationId } }))
        ) {
          throw new DomainError(
            'rule_violated',
            'UNKNOWN_ORGANIZATION',
            `Organization ${input.organizationId} does not exist; register it with POST /v1/organizations first.`,
            [{ field: 'organizationId', message: 'no such organization' }],
          );
        }
        if (
          input.agencyCode !== undefined &&
          !(await manager.getRepository(AgencyEntity).exists({ where: { code: input.agencyCode } }))
        ) {
          throw new DomainError(
            'rule_violated',
            'UNKNOWN_AGENCY',
            `Agency ${input.agencyCode} does not exist; register it with POST /v1/agencies first.`,
            [{ field: 'agencyCode', message: 'no such agency' }],
          );
        }
        const row = await users.save(
          users.create({
            email: input.email,
            name: input.name,
            passwordHash,
            organizationId: input.organizationId,
            roles: input.roles,
            agencyCode: input.agencyCode ?? null,
            active: true,
          }),
        );
        const created = toUserResponse(row);
        await this.audit.record(manager, {
          principal,
          action: 'user.created',
          subjectType: 'user',
          subjectId: row.id,
          after: created,
          requestId,
        });
        return created;
      });
    } catch (error) {
      if (isUniqueViolation(error, 'uq_users_email')) throw duplicateEmail(input.email);
      throw error;
    }
  }

  async list(query: ListUsersQuery): Promise<Page<UserResponse>> {
    const builder = this.dataSource.getRepository(UserEntity).createQueryBuilder('account');
    if (query.role) builder.andWhere(':role = ANY("account"."roles")', { role: query.role });
    if (query.organizationId)
      builder.andWhere('"account"."organization_id" = :organizationId', {
        organizationId: query.organizationId,
      });
    return keysetPage(builder, query, toUserResponse);
  }

  /** Admins may read any account, everyone else only their own (others are 404: ids leak nothing). */
  async get(principal: Principal, id: string): Promise<UserResponse> {
    const visible = hasRole(principal, 'admin') || (principal.kind === 'user' && principal.userId === id);
    const row = visible ? await this.dataSource.getRepository(UserEntity).findOne({ where: { id } }) : null;
    if (!row) throw notFound('User', id);
    return toUserResponse(row);
  }
}

function duplicateEmail(email: string): DomainError {
  return new DomainError('conflict', 'EMAIL_TAKEN', `A user with the email ${email} already exists.`, [
    { field: 'email', message: 'already registered' },
  ]);
}
