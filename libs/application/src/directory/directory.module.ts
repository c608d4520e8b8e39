import { Module } from '@nestjs/common';
import {
  OrganizationRepository,
  ProjectRepository,
  TypeormOrganizationRepository,
  TypeormProjectRepository,
  TypeormUserRepository,
  UserRepository,
} from '#persistence';
import { AddProjectMemberUseCase, RemoveProjectMemberUseCase } from './change-project-members.use-case.js';
import { CreateProjectUseCase } from './create-project.use-case.js';
import { ProjectQueries } from './project.queries.js';

const useCases = [CreateProjectUseCase, AddProjectMemberUseCase, RemoveProjectMemberUseCase, ProjectQueries];

/** The directory: organizations, people, projects and their members (needs PersistenceModule, AccessModule). */
@Module({
  providers: [
    ...useCases,
    { provide: ProjectRepository, useClass: TypeormProjectRepository },
    { provide: OrganizationRepository, useClass: TypeormOrganizationRepository },
    { provide: UserRepository, useClass: TypeormUserRepository },
  ],
  exports: useCases,
})
export class DirectoryApplicationModule {}
