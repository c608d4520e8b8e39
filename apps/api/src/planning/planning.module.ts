import { Module } from '@nestjs/common';
import { PlanningController } from './planning.controller.js';
import { PlanningService } from './planning.service.js';

/** The capacity calendar for admins: what-if, the waitlist and early releases (issue 7). */
@Module({
  controllers: [PlanningController],
  providers: [PlanningService],
})
export class PlanningModule {}
