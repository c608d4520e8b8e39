import { SetMetadata } from '@nestjs/common';

export const RATE_LIMIT_GROUP = 'gpupool:rate-limit-group';

/**
 * Which of the named limits a route is counted against besides the writes of its principal:
 * `login` (per account and per client address), `token-creation` (per principal).
 * `ingest` exempts machine traffic (agent events, usage batches) from the write limit: its volume
 * follows the clusters, not a person.
 */
export type RateLimitGroup = 'login' | 'token-creation' | 'ingest';

export const RateLimitGroup = (group: RateLimitGroup): MethodDecorator & ClassDecorator =>
  SetMetadata(RATE_LIMIT_GROUP, group);
