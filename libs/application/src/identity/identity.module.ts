import { Module } from '@nestjs/common';
import {
  AgencyRepository,
  ApiTokenRepository,
  OrganizationRepository,
  TypeormApiTokenRepository,
  TypeormOrganizationRepository,
  TypeormUserRepository,
  UserRepository,
} from '#persistence';
import {
  ApiTokenQueries,
  CreateApiTokenUseCase,
  MintSimulatorTokenUseCase,
  RevokeApiTokenUseCase,
} from './api-tokens.use-case.js';
import { PrincipalResolver } from './authentication.js';
import { BootstrapAdminUseCase } from './bootstrap-admin.use-case.js';
import { CreateOrganizationUseCase, OrganizationQueries } from './organizations.use-case.js';
import { LoginUseCase, SessionQueries } from './session.use-case.js';
import { CreateUserUseCase, UserQueries } from './users.use-case.js';

const useCases = [
  CreateUserUseCase,
  UserQueries,
  CreateOrganizationUseCase,
  OrganizationQueries,
  CreateApiTokenUseCase,
  RevokeApiTokenUseCase,
  ApiTokenQueries,
  MintSimulatorTokenUseCase,
  LoginUseCase,
  SessionQueries,
  PrincipalResolver,
  BootstrapAdminUseCase,
];

/**
 * Identity: organizations, people, API tokens and sessions (needs PersistenceModule and a
 * `Credentials` binding from the process: the API's CredentialsService).
 */
@Module({
  providers: [
    ...useCases,
    { provide: UserRepository, useClass: TypeormUserRepository },
    { provide: OrganizationRepository, useClass: TypeormOrganizationRepository },
    { provide: ApiTokenRepository, useClass: TypeormApiTokenRepository },
    AgencyRepository,
  ],
  exports: useCases,
})
export class IdentityApplicationModule {}
