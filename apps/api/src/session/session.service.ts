import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError } from '#domain';
import { OrganizationEntity, ProjectMemberEntity, UserEntity } from '#persistence';
import { CredentialsService } from '../auth/credentials.service.js';
import type { Principal } from '../auth/principal.js';

@Injectable()
export class SessionService {
  // Verifying against a real hash when the email is unknown keeps response times alike,
  // so the endpoint does not tell which emails have accounts.
  private unknownUserHash?: Promise<string>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly credentials: CredentialsService,
  ) {}

  async login(
    email: string,
    password: string,
  ): Promise<{ accessToken: string; tokenType: 'Bearer'; expiresIn: number }> {
    const user = await this.dataSource
      .getRepository(UserEntity)
      .findOne({ where: { email: email.toLowerCase() } });
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

  async me(principal: Principal): Promise<Record<string, unknown>> {
    if (principal.kind === 'api_token') {
      return { kind: 'api_token', tokenId: principal.tokenId, scopes: principal.scopes };
    }
    const user = await this.dataSource
      .getRepository(UserEntity)
      .findOneOrFail({ where: { id: principal.userId } });
    const organization = user.organizationId
      ? await this.dataSource
          .getRepository(OrganizationEntity)
          .findOne({ where: { id: user.organizationId } })
      : null;
    const memberships = await this.dataSource
      .getRepository(ProjectMemberEntity)
      .find({ where: { userId: user.id } });
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
