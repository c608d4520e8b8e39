export * from './allocations.module.js';
export * from './burn-rate-alerts.use-case.js';
export * from './allocation-jobs.js';
