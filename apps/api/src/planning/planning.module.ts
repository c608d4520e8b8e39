import { Module } from '@nestjs/common';
import { PlanningApplicationModule } from '#application';
import { PlanningController } from './planning.controller.js';

/** The capacity calendar for admins: what-if, the waitlist and early releases (issue 7). */
@Module({
  imports: [PlanningApplicationModule],
  controllers: [PlanningController],
})
export class PlanningModule {}
