export * from './pool.module.js';
export * from './capacity.queries.js';
export * from './node.views.js';
export * from './node.queries.js';
export * from './change-node-state.use-case.js';
export * from './cluster.views.js';
export * from './cluster.queries.js';
export * from './register-cluster.use-case.js';
export { cycleJobs as poolCycleJobs } from './pool-jobs.js';
