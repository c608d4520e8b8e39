import { configSchema, type GpupoolConfig } from './config.schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment into a frozen, typed config. The only place that reads process.env.
 * Unknown variables are ignored (the environment holds much more than ours); ours are validated.
 */
export function parseConfig(env: Record<string, string | undefined>): GpupoolConfig {
  const known = Object.keys(configSchema.shape);
  const ours: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') ours[key] = value;
  }
  const result = configSchema.safeParse(ours);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return Object.freeze(result.data);
}

let cached: GpupoolConfig | undefined;

export function loadConfig(): GpupoolConfig {
  cached ??= parseConfig(process.env);
  return cached;
}

/** For tests and tools that start components with explicit settings. */
export function configFrom(overrides: Record<string, string | undefined>): GpupoolConfig {
  return parseConfig({ ...process.env, ...overrides });
}
