export { configSchema, type GpupoolConfig } from './config.schema.js';
export { ConfigError, configFrom, loadConfig, parseConfig } from './load-config.js';
