import { Module } from '@nestjs/common';
import { AgenciesController } from './agencies.controller.js';
import { AgenciesService } from './agencies.service.js';
import { ProgramReader } from './program-reader.service.js';
import { ProgramReviewersService } from './program-reviewers.service.js';
import { ProgramsController } from './programs.controller.js';
import { ProgramsService } from './programs.service.js';

/** Agencies, programs (funding calls with their GPU budgets) and program reviewers. */
@Module({
  controllers: [AgenciesController, ProgramsController],
  providers: [AgenciesService, ProgramsService, ProgramReviewersService, ProgramReader],
  exports: [ProgramReader, ProgramsService],
})
export class ProgramsModule {}
