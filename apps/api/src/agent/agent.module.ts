import { Module } from '@nestjs/common';
import { WorkloadsModule } from '../workloads/workloads.module.js';
import { AgentController } from './agent.controller.js';
import { AgentService } from './agent.service.js';

/** Cluster agents report the start and end of the attempts they run. */
@Module({
  imports: [WorkloadsModule],
  controllers: [AgentController],
  providers: [AgentService],
})
export class AgentModule {}
