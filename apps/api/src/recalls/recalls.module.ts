import { Module } from '@nestjs/common';
import { PlanningApplicationModule } from '#application';
import { RecallsController } from './recalls.controller.js';

/** Recall proposals and admins' decisions on them (the proposals come from the scheduler's sweep). */
@Module({
  imports: [PlanningApplicationModule],
  controllers: [RecallsController],
})
export class RecallsModule {}
