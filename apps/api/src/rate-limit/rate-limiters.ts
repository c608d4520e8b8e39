import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { GPUPOOL_CONFIG, type GpupoolConfig } from '../common/config.provider.js';
import type { RateLimitGroup } from './rate-limit.decorators.js';
import {
  rateLimitDefinitions,
  trackerKey,
  type LimitedRequest,
  type RateLimitDefinition,
} from './rate-limits.js';

/** A request over one of the limits. */
export interface RateLimitRefusal {
  definition: RateLimitDefinition;
  retryAfterSeconds: number;
}

/**
 * The limiters (rate-limiter-flexible): counts in Redis under the queue prefix, shared by every API
 * replica, each with an in-memory insurance limiter that counts per process while Redis cannot be
 * reached (Redis is transport: its outage must not stop sign-in). With QUEUE_BACKEND=postgres there
 * is no Redis and each process counts on its own.
 */
@Injectable()
export class RateLimiters implements OnApplicationShutdown {
  private readonly logger = new Logger('rate-limit');
  private readonly redis: Redis | null;
  private readonly limiters: { definition: RateLimitDefinition; limiter: RateLimiterAbstract }[];

  constructor(@Inject(GPUPOOL_CONFIG) config: GpupoolConfig) {
    this.redis =
      config.QUEUE_BACKEND === 'redis'
        ? new Redis(config.REDIS_URL, {
            enableOfflineQueue: false,
            maxRetriesPerRequest: 1,
            commandTimeout: 1000,
          })
        : null;
    this.redis?.on('error', () => {
      // The insurance limiter takes over; the health check reports Redis.
    });
    if (!this.redis) this.logger.log('rate limits counted per API process (QUEUE_BACKEND=postgres)');
    this.limiters = rateLimitDefinitions(config).map((definition) => {
      const options = {
        keyPrefix: `${config.QUEUE_PREFIX}:rl:${definition.name}`,
        points: definition.points,
        duration: definition.windowSeconds,
        blockDuration: definition.blockSeconds ?? 0,
      };
      const memory = new RateLimiterMemory(options);
      const limiter = this.redis
        ? new RateLimiterRedis({
            ...options,
            storeClient: this.redis,
            rejectIfRedisNotReady: true,
            insuranceLimiter: memory,
          })
        : memory;
      return { definition, limiter };
    });
  }

  /** Counts the request against every limit that applies to it; the refusal with the longest wait, if any. */
  async consume(
    request: LimitedRequest,
    group: RateLimitGroup | undefined,
  ): Promise<RateLimitRefusal | null> {
    const outcomes = await Promise.all(
      this.limiters.map(async ({ definition, limiter }) => {
        const tracker = definition.trackerOf(request, group);
        if (tracker === undefined) return null;
        try {
          await limiter.consume(trackerKey(tracker));
          return null;
        } catch (outcome) {
          if (!(outcome instanceof RateLimiterRes)) throw outcome;
          return { definition, retryAfterSeconds: Math.max(1, Math.ceil(outcome.msBeforeNext / 1000)) };
        }
      }),
    );
    const refusals = outcomes.filter((outcome): outcome is RateLimitRefusal => outcome !== null);
    return refusals.sort((a, b) => b.retryAfterSeconds - a.retryAfterSeconds)[0] ?? null;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.redis) return;
    // quit() waits for a connection that may never come; a client that is not ready just stops.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis?.disconnect());
    else this.redis.disconnect();
  }
}
