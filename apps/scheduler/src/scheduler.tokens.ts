/** The validated config (libs/config is the only reader of the environment). */
export const GPUPOOL_CONFIG = Symbol('GPUPOOL_CONFIG');
export const SCHEDULER_LOGGER = Symbol('SCHEDULER_LOGGER');
/** The typed job handler table (JobHandlers) the workers route to. */
export const JOB_HANDLERS = Symbol('JOB_HANDLERS');
