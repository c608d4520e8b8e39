export * from './allocations.module.js';
export * from './burn-rate-alerts.use-case.js';
export * from './allocation-jobs.js';
export * from './allocation-read-access.js';
export * from './allocation.queries.js';
export * from './change-allocation-status.use-case.js';
