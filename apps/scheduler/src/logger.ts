import pino, { type Logger } from 'pino';
import type { GpupoolConfig } from '#config';

/** JSON logs, one line per event, like the API's. Job logs carry the job id and name. */
export function createLogger(config: GpupoolConfig, name: string): Logger {
  return pino({ name, level: config.LOG_LEVEL, base: { service: name, pid: process.pid } });
}

export type { Logger };
