import { Module } from '@nestjs/common';
import { ProgramsModule } from '../programs/programs.module.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { AllocationRequestsController } from './allocation-requests.controller.js';
import { AllocationRequestsService } from './allocation-requests.service.js';
import { ProgramRulesReader } from './program-rules.reader.js';
import { RequestAccess } from './request-access.service.js';
import { ReviewsService } from './reviews.service.js';

/** The allocation-request lifecycle: drafts, submission, reviews, decisions and the grant outbox. */
@Module({
  imports: [ProjectsModule, ProgramsModule],
  controllers: [AllocationRequestsController],
  providers: [AllocationRequestsService, ReviewsService, RequestAccess, ProgramRulesReader],
})
export class AllocationRequestsModule {}
