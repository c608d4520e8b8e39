import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '#domain';
import { OrganizationRepository, ProjectMembershipRepository, UserRepository } from '#persistence';
import { Credentials } from './credentials.port.js';

export interface IssuedSession {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** Signs a person in with email and password. */
@Injectable()
export class LoginUseCase {
  // Verifying against a real hash when the email is unknown keeps response times alike,
  // so the endpoint does not tell which emails have accounts.
  private unknownUserHash?: Promise<string>;

  constructor(
    private readonly users: UserRepository,
    private readonly credentials: Credentials,
  ) {}

  async execute(email: string, password: string): Promise<IssuedSession> {
    const user = await this.users.findByEmail(email.toLowerCase());
    this.unknownUserHash ??= this.credentials.hashPassword('no such user');
    const ok = await this.credentials.verifyPassword(
      user?.passwordHash ?? (await this.unknownUserHash),
      password,
    );
    if (!user || !ok || !user.active) {
      throw new DomainError('unauthenticated', 'INVALID_CREDENTIALS', 'The email or password is wrong.');
    }
    const { accessToken, expiresIn } = await this.credentials.issueAccessToken(user.id);
    return { accessToken, tokenType: 'Bearer', expiresIn };
  }
}

/** Who the caller is: the token itself, or the person with their organization and projects. */
@Injectable()
export class SessionQueries {
  constructor(
    private readonly users: UserRepository,
    private readonly organizations: OrganizationRepository,
    private readonly memberships: ProjectMembershipRepository,
  ) {}

  async me(principal: Principal): Promise<Record<string, unknown>> {
    if (principal.kind === 'api_token') {
      return { kind: 'api_token', tokenId: principal.tokenId, scopes: principal.scopes };
    }
    const user = await this.users.find(principal.userId);
    if (!user) throw new Error(`the signed-in user ${principal.userId} vanished`);
    const organization = user.organizationId ? await this.organizations.find(user.organizationId) : null;
    const memberships = await this.memberships.membershipsOf(user.id);
    return {
      kind: 'user',
      id: user.id,
      email: user.email,
      name: user.name,
      roles: user.roles,
      agencyCode: user.agencyCode,
      organization: organization
        ? { id: organization.id, name: organization.name, type: organization.type }
        : null,
      projects: memberships.map((membership) => ({ projectId: membership.projectId, role: membership.role })),
    };
  }
}
