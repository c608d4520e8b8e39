import { Module } from '@nestjs/common';
import { ProjectAccess } from './project-access.service.js';
import { ProjectsController } from './projects.controller.js';
import { ProjectsService } from './projects.service.js';

/** Projects and their members; exports ProjectAccess, the object-level check for everything under a project. */
@Module({
  controllers: [ProjectsController],
  providers: [ProjectsService, ProjectAccess],
  exports: [ProjectAccess],
})
export class ProjectsModule {}
