import { Module } from '@nestjs/common';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimiters } from './rate-limiters.js';

/** Rate limits: sign-in per account and per address, API token creation and writes per principal. */
@Module({
  providers: [RateLimiters, RateLimitGuard],
  exports: [RateLimitGuard],
})
export class RateLimitModule {}
