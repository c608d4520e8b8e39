import { Injectable } from '@nestjs/common';
import { DomainError, hasRole, notFound, type Principal } from '#domain';
import {
  AgencyRepository,
  AuditRepository,
  isUniqueViolation,
  OrganizationRepository,
  TransactionRunner,
  UserRepository,
  type Page,
  type PageQuery,
  type UserListFilter,
} from '#persistence';
import { Credentials } from './credentials.port.js';
import { userView, type UserView } from './identity.views.js';

export interface CreateUserCommand {
  email: string;
  name: string;
  /** Absent for accounts that sign in through OIDC only. */
  password?: string | undefined;
  organizationId: string;
  roles: string[];
  agencyCode?: string | undefined;
}

/** Registers a person in an existing organization (and, for reviewers, an existing agency). */
@Injectable()
export class CreateUserUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly users: UserRepository,
    private readonly organizations: OrganizationRepository,
    private readonly agencies: AgencyRepository,
    private readonly credentials: Credentials,
    private readonly audit: AuditRepository,
  ) {}

  async execute(principal: Principal, input: CreateUserCommand, requestId: string | null): Promise<UserView> {
    // Hash outside the transaction: Argon2 is deliberately slow and must not hold a connection.
    const passwordHash =
      input.password === undefined ? null : await this.credentials.hashPassword(input.password);
    try {
      return await this.transactions.run(async (tx) => {
        if (await this.users.emailTaken(input.email, tx)) throw duplicateEmail(input.email);
        if (!(await this.organizations.exists(input.organizationId, tx))) {
          throw new DomainError(
            'rule_violated',
            'UNKNOWN_ORGANIZATION',
            `Organization ${input.organizationId} does not exist; register it with POST /v1/organizations first.`,
            [{ field: 'organizationId', message: 'no such organization' }],
          );
        }
        if (input.agencyCode !== undefined && !(await this.agencies.exists(input.agencyCode, tx))) {
          throw new DomainError(
            'rule_violated',
            'UNKNOWN_AGENCY',
            `Agency ${input.agencyCode} does not exist; register it with POST /v1/agencies first.`,
            [{ field: 'agencyCode', message: 'no such agency' }],
          );
        }
        const row = await this.users.insert(tx, {
          email: input.email,
          name: input.name,
          passwordHash,
          organizationId: input.organizationId,
          roles: input.roles,
          agencyCode: input.agencyCode ?? null,
        });
        const created = userView(row);
        await this.audit.record(tx, {
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
}

@Injectable()
export class UserQueries {
  constructor(private readonly users: UserRepository) {}

  async list(filter: UserListFilter, page: PageQuery): Promise<Page<UserView>> {
    const rows = await this.users.page(filter, page);
    return { items: rows.items.map(userView), nextCursor: rows.nextCursor };
  }

  /** Admins may read any account, everyone else only their own (others are 404: ids leak nothing). */
  async get(principal: Principal, id: string): Promise<UserView> {
    const visible = hasRole(principal, 'admin') || (principal.kind === 'user' && principal.userId === id);
    const row = visible ? await this.users.find(id) : null;
    if (!row) throw notFound('User', id);
    return userView(row);
  }
}

function duplicateEmail(email: string): DomainError {
  return new DomainError('conflict', 'EMAIL_TAKEN', `A user with the email ${email} already exists.`, [
    { field: 'email', message: 'already registered' },
  ]);
}
