import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OperationsMetricsRepository } from '#persistence';
import { MetricsController } from '../metrics/metrics.controller.js';
import { HealthController } from './health.controller.js';

/** What operators and orchestrators poll: /health/live, /health/ready (terminus) and /metrics. */
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json' })],
  controllers: [HealthController, MetricsController],
  providers: [OperationsMetricsRepository],
})
export class OperationsModule {}
