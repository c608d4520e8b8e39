import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { GpupoolConfig } from '#config';
import type { Logger } from './logger.js';
import { SchedulerModule } from './scheduler.module.js';
import { SCHEDULER_LOGGER } from './scheduler.tokens.js';

export { LOST_RUN_GRACE_MS, SCHEDULER_ESTIMATE_LIMIT } from './scheduler.module.js';

/**
 * The scheduler process: a Nest application context (no HTTP server) of SchedulerModule, whose
 * BullMQ workers call thin handlers over the use cases. start() builds the context (the workers start
 * on bootstrap); stop() closes it: workers finish their active jobs, then queue and database
 * connections close.
 */
export class SchedulerProcess {
  private context?: INestApplicationContext;

  constructor(private readonly config: GpupoolConfig) {}

  async start(): Promise<void> {
    this.context = await NestFactory.createApplicationContext(SchedulerModule.forRoot(this.config), {
      logger: false,
      abortOnError: false,
    });
  }

  /** The Nest context, for main.ts (shutdown hooks) and tests. */
  get app(): INestApplicationContext | undefined {
    return this.context;
  }

  /** Graceful stop: workers finish their active jobs, then connections close. */
  async stop(): Promise<void> {
    const context = this.context;
    if (!context) return;
    this.context = undefined;
    const logger = context.get<Logger>(SCHEDULER_LOGGER);
    await context.close();
    logger.info('gpupool scheduler stopped');
  }
}
