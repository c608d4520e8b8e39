import { Module } from '@nestjs/common';
import {
  AgencyRepository,
  OrganizationRepository,
  ProgramRepository,
  ProjectRepository,
  TypeormOrganizationRepository,
  TypeormProjectRepository,
  TypeormUserRepository,
  UserRepository,
} from '#persistence';
import { AddProjectMemberUseCase, RemoveProjectMemberUseCase } from './change-project-members.use-case.js';
import { ChangeProgramPolicyUseCase } from './change-program-policy.use-case.js';
import { CreateAgencyUseCase } from './create-agency.use-case.js';
import { CreateProgramUseCase } from './create-program.use-case.js';
import { CreateProjectUseCase } from './create-project.use-case.js';
import { ProgramQueries } from './program-queries.js';
import { ProgramReader } from './program-reader.js';
import { AssignProgramReviewerUseCase, RemoveProgramReviewerUseCase } from './program-reviewers.use-case.js';
import { ProjectQueries } from './project.queries.js';

const useCases = [
  CreateProjectUseCase,
  AddProjectMemberUseCase,
  RemoveProjectMemberUseCase,
  ProjectQueries,
  CreateProgramUseCase,
  ChangeProgramPolicyUseCase,
  AssignProgramReviewerUseCase,
  RemoveProgramReviewerUseCase,
  CreateAgencyUseCase,
  ProgramQueries,
  ProgramReader,
];

/**
 * The directory: organizations, people, projects and their members, agencies and their programs with
 * reviewers (needs PersistenceModule, AccessModule and the queues' JobProducer).
 */
@Module({
  providers: [
    ...useCases,
    { provide: ProjectRepository, useClass: TypeormProjectRepository },
    { provide: OrganizationRepository, useClass: TypeormOrganizationRepository },
    { provide: UserRepository, useClass: TypeormUserRepository },
    ProgramRepository,
    AgencyRepository,
  ],
  // ProgramReader and ProgramRepository: the program read side other features (requests, reviews) use.
  exports: [...useCases, ProgramRepository],
})
export class DirectoryApplicationModule {}
