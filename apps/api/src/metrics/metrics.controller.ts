import { Controller, Get, Header } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { OperationsMetricsRepository } from '#persistence';
import { Public } from '../auth/decorators.js';

/** Prometheus metrics: process metrics plus the outbox backlog (grants approved but not yet posted). */
@ApiTags('operations')
@Public()
@Controller('metrics')
export class MetricsController {
  private readonly registry = new Registry();

  constructor(metrics: OperationsMetricsRepository) {
    collectDefaultMetrics({ register: this.registry, prefix: 'gpupool_api_' });
    new Gauge({
      name: 'gpupool_grant_intents',
      help: 'Grant intents by status (pending ones are waiting for the scheduler or the reconciler).',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        const rows = await metrics.grantIntentCounts();
        this.reset();
        for (const row of rows) this.set({ status: row.status }, row.count);
      },
    });
  }

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
