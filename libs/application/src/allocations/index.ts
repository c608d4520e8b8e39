export * from './allocations.module.js';
export * from './burn-rate-alerts.use-case.js';
export * from './stop-allocation-workloads.use-case.js';
