import { Module } from '@nestjs/common';
import { DirectoryApplicationModule } from '#application';
import { AgenciesController } from './agencies.controller.js';
import { ProgramsController } from './programs.controller.js';

/** Agencies, programs (funding calls with their GPU budgets) and program reviewers. */
@Module({
  imports: [DirectoryApplicationModule],
  controllers: [AgenciesController, ProgramsController],
  exports: [DirectoryApplicationModule],
})
export class ProgramsModule {}
