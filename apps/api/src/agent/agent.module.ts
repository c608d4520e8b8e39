import { Module } from '@nestjs/common';
import { WorkloadsApplicationModule } from '#application';
import { AgentController } from './agent.controller.js';

/** Cluster agents report the start and end of the attempts they run. */
@Module({
  imports: [WorkloadsApplicationModule],
  controllers: [AgentController],
})
export class AgentModule {}
