import { Global, Module } from '@nestjs/common';
import { ProjectMembershipRepository } from '#persistence';
import { ProjectAccess } from './project-access.js';

/** Who may see and act on what (invariant 7), for every transport. */
@Global()
@Module({
  providers: [ProjectMembershipRepository, ProjectAccess],
  exports: [ProjectAccess],
})
export class AccessModule {}
