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
