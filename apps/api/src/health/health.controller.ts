import { Controller, Get, HttpCode, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import type { Response } from 'express';
import { JobProducer } from '#queues';
import { Public } from '../auth/decorators.js';

/** How long a dependency may take to answer before readiness calls it down. */
const CHECK_TIMEOUT_MS = 2000;

export interface ReadinessBody {
  status: 'ok' | 'unavailable';
  /** `up`, or `down: <why>` per dependency. */
  checks: Record<string, string>;
}

/**
 * Liveness and readiness, checked by @nestjs/terminus (PostgreSQL through TypeORM's ping, the queue
 * backend through the producer's ping). The body keeps gpupool's documented shape: one word per
 * dependency, 503 naming what is down.
 */
@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly producer: JobProducer,
  ) {}

  @Get('live')
  @HttpCode(HttpStatus.OK)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready when PostgreSQL answers and the queue backend answers; 503 names what is down. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response): Promise<ReadinessBody> {
    const result = await this.health
      .check([
        () => this.database.pingCheck('postgres').withTimeout(CHECK_TIMEOUT_MS),
        () =>
          this.indicators
            .check('queue')
            .attempt(() => this.producer.ping())
            .withTimeout(CHECK_TIMEOUT_MS),
      ])
      .catch((error: unknown) => {
        if (error instanceof ServiceUnavailableException) return error.getResponse() as HealthCheckResult;
        throw error;
      });
    if (result.status !== 'ok') response.status(HttpStatus.SERVICE_UNAVAILABLE);
    return { status: result.status === 'ok' ? 'ok' : 'unavailable', checks: checksOf(result.details) };
  }
}

function checksOf(details: HealthIndicatorResult): Record<string, string> {
  return Object.fromEntries(
    Object.entries(details).map(([key, { status, ...data }]) => [
      key,
      status === 'up' ? 'up' : `down: ${typeof data.message === 'string' ? data.message : status}`,
    ]),
  );
}
