import { Global, Module } from '@nestjs/common';
import { ProjectAccess } from './project-access.js';

/** Who may see and act on what (invariant 7), for every transport (needs PersistenceModule). */
@Global()
@Module({
  providers: [ProjectAccess],
  exports: [ProjectAccess],
})
export class AccessModule {}
