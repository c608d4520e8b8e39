import { ConfigError, parseConfig } from './load-config.js';

describe('parseConfig', () => {
  it('applies documented defaults', () => {
    const config = parseConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.QUEUE_BACKEND).toBe('redis');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names the variable that is wrong', () => {
    expect(() => parseConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => parseConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => parseConfig({ QUEUE_BACKEND: 'kafka' })).toThrow(/QUEUE_BACKEND/);
  });

  it('ignores variables that are not gpupool settings', () => {
    expect(parseConfig({ PATH: '/usr/bin', PORT: '8080' }).PORT).toBe(8080);
  });
});

describe('scheduler settings', () => {
  it('parses booleans the way operators write them', () => {
    expect(parseConfig({ SCHEDULER_BACKFILL: 'false' }).SCHEDULER_BACKFILL).toBe(false);
    expect(parseConfig({ SCHEDULER_PREEMPTION: '1' }).SCHEDULER_PREEMPTION).toBe(true);
    expect(() => parseConfig({ SCHEDULER_BACKFILL: 'maybe' })).toThrow(/SCHEDULER_BACKFILL/);
  });
});

describe('JWT_SECRET', () => {
  const strong = 'q3V7m1Zs8bX2nR5tY0wL4kP9cF6hJ2dA'; // 32 random characters, not a sample

  it('has no default: no process signs with a constant', () => {
    expect(parseConfig({}).JWT_SECRET).toBeUndefined();
  });

  it('is required in production, with a message that says how to make one', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(
      /JWT_SECRET is required when NODE_ENV=production/,
    );
    expect(parseConfig({ NODE_ENV: 'production', JWT_SECRET: strong }).JWT_SECRET).toBe(strong);
  });

  it('refuses a secret shorter than 32 bytes', () => {
    expect(() => parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(31) })).toThrow(
      /JWT_SECRET must be at least 32 bytes/,
    );
  });

  it.each([
    'gpupool-development-secret-change-me-in-production',
    'change-me-local-compose-secret-at-least-32-chars',
    'CHANGE-ME-at-least-32-characters-long-random',
  ])('refuses the published sample %s', (sample) => {
    expect(() => parseConfig({ NODE_ENV: 'production', JWT_SECRET: sample })).toThrow(
      /JWT_SECRET is a published sample value/,
    );
  });
});
