export * from './billing-checks.js';
export * from './billing-close.use-cases.js';
export * from './billing-exports.use-cases.js';
export * from './billing-pricing.use-cases.js';
export * from './billing-statements.queries.js';
export * from './billing.module.js';
