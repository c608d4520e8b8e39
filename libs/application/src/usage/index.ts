export * from './ingest-usage-batch.use-case.js';
export * from './post-usage-batch.use-case.js';
export * from './reconcile-usage.use-case.js';
export * from './usage-maintenance.use-case.js';
export * from './usage-sweep.use-case.js';
export * from './usage.module.js';
export * from './usage-batch.queries.js';
export * from './usage-report.queries.js';
