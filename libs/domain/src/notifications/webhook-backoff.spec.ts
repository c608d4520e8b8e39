import { randomUUID } from 'node:crypto';
import {
  verdictAfterAttempt,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_MAX_DELAY_MS,
  webhookRetryDelayMs,
} from './webhook-backoff.js';

describe('webhook backoff', () => {
  it('doubles from 2 s after each failed attempt: 2, 4, 8, 16, 32, 64, 128 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((attempts) => webhookRetryDelayMs(attempts))).toEqual([
      2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000,
    ]);
  });

  it('never waits more than an hour', () => {
    expect(webhookRetryDelayMs(12)).toBe(WEBHOOK_MAX_DELAY_MS);
    expect(webhookRetryDelayMs(1_000)).toBe(WEBHOOK_MAX_DELAY_MS);
  });

  it('jitters by at most ±10%, the same way every time for a delivery', () => {
    for (let index = 0; index < 200; index += 1) {
      const deliveryId = randomUUID();
      for (const attempts of [1, 4, 7, 20]) {
        const base = webhookRetryDelayMs(attempts);
        const jittered = webhookRetryDelayMs(attempts, deliveryId);
        expect(jittered).toBeGreaterThanOrEqual(Math.floor(base * 0.9));
        expect(jittered).toBeLessThanOrEqual(Math.ceil(base * 1.1));
        expect(webhookRetryDelayMs(attempts, deliveryId)).toBe(jittered);
      }
    }
    const spread = new Set(Array.from({ length: 50 }, () => webhookRetryDelayMs(3, randomUUID())));
    expect(spread.size).toBeGreaterThan(10);
  });

  it('refuses an attempt number below 1', () => {
    expect(() => webhookRetryDelayMs(0)).toThrow(RangeError);
    expect(() => webhookRetryDelayMs(1.5)).toThrow(RangeError);
  });

  it('delivers on success, retries failures, and gives up after 8 attempts', () => {
    expect(verdictAfterAttempt(1, true)).toEqual({ status: 'delivered' });
    expect(verdictAfterAttempt(WEBHOOK_MAX_ATTEMPTS, true)).toEqual({ status: 'delivered' });
    expect(verdictAfterAttempt(1, false)).toEqual({ status: 'pending', retryInMs: 2_000 });
    expect(verdictAfterAttempt(7, false)).toEqual({ status: 'pending', retryInMs: 128_000 });
    expect(WEBHOOK_MAX_ATTEMPTS).toBe(8);
    expect(verdictAfterAttempt(8, false)).toEqual({ status: 'failed' });
  });
});
