import { Module } from '@nestjs/common';
import { WorkloadsModule } from '../workloads/workloads.module.js';
import { RecallsController } from './recalls.controller.js';
import { RecallsService } from './recalls.service.js';

/** Recall proposals and admins' decisions on them (the proposals come from the scheduler's sweep). */
@Module({
  imports: [WorkloadsModule],
  controllers: [RecallsController],
  providers: [RecallsService],
})
export class RecallsModule {}
