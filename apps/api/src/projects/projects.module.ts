import { Module } from '@nestjs/common';
import { DirectoryApplicationModule } from '#application';
import { ProjectsController } from './projects.controller.js';

/** Projects and their members. Access to them is the AccessModule's (libs/application). */
@Module({
  imports: [DirectoryApplicationModule],
  controllers: [ProjectsController],
})
export class ProjectsModule {}
