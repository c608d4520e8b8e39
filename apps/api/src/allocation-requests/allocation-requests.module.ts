import { Module } from '@nestjs/common';
import { RequestLifecycleApplicationModule } from '#application';
import { ProgramsModule } from '../programs/programs.module.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { AllocationRequestsController } from './allocation-requests.controller.js';

/** The allocation-request lifecycle: drafts, submission, reviews, decisions and the grant outbox. */
@Module({
  imports: [ProjectsModule, ProgramsModule, RequestLifecycleApplicationModule],
  controllers: [AllocationRequestsController],
})
export class AllocationRequestsModule {}
